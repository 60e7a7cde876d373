"""The demo's Alipay stand-in, kept in PARKING_DATA_DIR so the demo's money can be looked at afterwards.

`parking demo` runs the local Alipay-compatible gateway. Its keys (`demo-alipay/keys.json`) and its books
(`demo-alipay/ledger.json`: agreements, trades, refunds; written every few seconds and at the end) live in
the data directory, so a second demo finds the agreements the demo database remembers, and
`parking billing reconcile --demo DAY` reconciles the demo database with the bill of the very trades the
demo made (a stand-in started from those books), with no ALIPAY_* settings.
"""
from __future__ import annotations

import itertools
import json
import os
import threading
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from alipay_standin import LocalAlipay, start_local_alipay
from alipay_standin.ledger import Agreement, Ledger, Refund, Trade
from billing.alipay.client import AlipayClient, build_client
from billing.alipay.signing import RsaKeyPair, generate_keypair
from parking_core.errors import ConfigError

SAVE_EVERY_S = 2.0


def state_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "demo-alipay"


def _keys(folder: Path, *, create: bool) -> tuple[RsaKeyPair, RsaKeyPair] | None:
    """(the app's key pair, the stand-in's own), made once and kept readable by this user only."""
    path = folder / "keys.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return RsaKeyPair(**raw["app"]), RsaKeyPair(**raw["alipay"])
    if not create:
        return None
    app, alipay = generate_keypair(), generate_keypair()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"app": asdict(app), "alipay": asdict(alipay)}, f)
    return app, alipay


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _revive(cls: type, raw: dict) -> Any:
    kinds = {f.name: f.type for f in fields(cls)}
    return cls(**{k: datetime.fromisoformat(v) if isinstance(v, str) and "datetime" in str(kinds.get(k, "")) else v
                  for k, v in raw.items() if k in kinds})


def save_ledger(ledger: Ledger, path: Path) -> None:
    """The books as JSON, written whole (a temporary file renamed over the old one)."""
    with ledger.lock:
        n = next(ledger._seq)
        ledger._seq = itertools.count(n)
        data = {
            "seq": n,
            "agreements": [{k: _plain(v) for k, v in asdict(a).items()} for a in ledger.agreements.values()],
            "trades": [{k: _plain(v) for k, v in asdict(t).items()} for t in ledger.trades.values()],
            "refunds": [{k: _plain(v) for k, v in asdict(r).items()} for r in ledger.refunds.values()],
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False))
    os.replace(tmp, path)


def load_ledger(ledger: Ledger, path: Path) -> None:
    if not path.exists():
        return
    data = json.loads(path.read_text())
    with ledger.lock:
        ledger.agreements = {a.agreement_no: a for a in (_revive(Agreement, raw) for raw in data["agreements"])}
        ledger.trades = {t.out_trade_no: t for t in (_revive(Trade, raw) for raw in data["trades"])}
        ledger.refunds = {(r.trade_no, r.out_request_no): r for r in (_revive(Refund, raw) for raw in data["refunds"])}
        ledger._seq = itertools.count(int(data["seq"]))


class DemoAlipay:
    """The running stand-in and the client pointed at it; `stop()` saves the books and ends it."""

    def __init__(self, gateway: LocalAlipay, client: AlipayClient, ledger_path: Path, *, keep: bool = True) -> None:
        self.gateway, self.client, self.ledger_path, self.keep = gateway, client, ledger_path, keep
        self._stop = threading.Event()
        self._saver = threading.Thread(target=self._save_loop, name="demo-alipay-save", daemon=True)
        if keep:
            self._saver.start()

    @property
    def url(self) -> str:
        return self.gateway.url

    def _save_loop(self) -> None:
        while not self._stop.wait(SAVE_EVERY_S):
            save_ledger(self.gateway.gateway.ledger, self.ledger_path)

    def stop(self) -> None:
        self._stop.set()
        if self.keep:
            self._saver.join(5)
            save_ledger(self.gateway.gateway.ledger, self.ledger_path)
        self.gateway.stop()


def start_demo_alipay(data_dir: Path, *, notify_url: str | None = None, create: bool = True) -> DemoAlipay:
    """The demo's stand-in with its kept keys and books, keeping them up to date; with `create` False (a look
    at the demo's books, e.g. reconcile) it writes nothing, and raises ConfigError when there are none."""
    folder = state_dir(data_dir)
    keys = _keys(folder, create=create)
    if keys is None:
        raise ConfigError(f"PARKING_DATA_DIR={str(data_dir)!r} holds no demo Alipay data ({folder.name}/keys.json): run `parking demo` first",
                          field="PARKING_DATA_DIR", value=str(data_dir))
    app, alipay = keys
    gateway = start_local_alipay(app_public_key_pem=app.public_pem, alipay_keys=alipay, same_day_bills=True)
    ledger_path = folder / "ledger.json"
    load_ledger(gateway.gateway.ledger, ledger_path)
    client = build_client(gateway.client_settings(app_private_key_pem=app.private_pem, notify_url=notify_url))
    return DemoAlipay(gateway, client, ledger_path, keep=create)
