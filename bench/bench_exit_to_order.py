"""Exit-to-order latency: from a gate's `out` passage published over MQTT to (1) the order committed and
(2) the withholding charge (`alipay.trade.pay`) arriving at Alipay.

This process runs the whole platform: MQTT ingest from a private Mosquitto started with the shipped config,
SQLite (or PostgreSQL), billing with its payment worker thread, and the HTTP app served by uvicorn, which
receives Alipay's notifications. The local Alipay runs in a process of its own, as the real one is remote.
Every car has an account with a signed agreement. Entries are published first; then one exit every 1/--rate s.
Times are on the machine's monotonic clock, read just before the publish, in an after-commit handler of
OrderCreated (declared with the platform, after billing's own), and by the local Alipay when `alipay.trade.pay` reaches it. Optionally a simulated city
loads the ingest from a third process (--background msg/s). From the repository root:

    python -m bench.bench_exit_to_order [--cars 300] [--rate 5] [--pg] [--background 0] [--sdk-sign]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson

from bench.common import (
    REDIS_URL,
    REPO,
    connected_client,
    console,
    database,
    percentile,
    prepare_database,
    prepare_serve,
    private_mosquitto,
    table,
    wait_until,
)
from parking_core.registry import parse_registry
from sensors.broker import free_port

LOT = "EXIT-1"


def exit_lot() -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.5853, 31.2990]},
            "properties": {"id": LOT, "name": "exit bench car park", "kind": "off_street", "operator": "op-bench",
                           "district": "gusu", "total": 5000, "tariff": "suzhou-offstreet"}}


def use_sdk_signing() -> None:
    """The baseline: put back the SDK's own pure-Python RSA signing (~24 ms of CPU a request, holding the GIL)
    that billing/alipay/client.py replaces by the byte-identical OpenSSL one."""
    import alipay.aop.api.DefaultAlipayClient as sdk

    import billing.alipay.client  # noqa: F401  (installs the fast signer, which keeps the SDK's own)
    from billing.alipay.signing import CheckedSigner

    if isinstance(sdk.sign_with_rsa2, CheckedSigner):
        sdk.sign_with_rsa2 = sdk.sign_with_rsa2.sdk_sign


def alipay_child(port: int, keys_file: str, times_file: str) -> None:
    """The local Alipay on `port`, noting when each trade.pay arrives (by plate); writes the times when stdin closes."""
    from alipay_standin import start_local_alipay
    from alipay_standin.methods import METHODS
    from billing.alipay.signing import RsaKeyPair

    keys = json.loads(Path(keys_file).read_text())
    gw = start_local_alipay(port, app_public_key_pem=keys["app_public"],
                            alipay_keys=RsaKeyPair(private_pem=keys["alipay_private"], public_pem=keys["alipay_public"]))
    arrived: dict[str, float] = {}
    real_pay = METHODS["alipay.trade.pay"]

    def timed_pay(gateway, biz, common):  # noqa: ANN001
        arrived.setdefault(str(biz.get("subject", "")).split()[-1], time.monotonic())
        return real_pay(gateway, biz, common)

    gw.gateway._methods = {**METHODS, "alipay.trade.pay": timed_pay}
    print("ready", flush=True)
    sys.stdin.read()
    Path(times_file).write_text(json.dumps(arrived))
    gw.stop()


def start_local_alipay(tmp: Path):  # noqa: ANN201
    """The app's and Alipay's keys, and the local Alipay in a process of its own, ready: (app keys, Alipay keys,
    process, port, the file it writes trade.pay arrival times to when its stdin closes)."""
    from billing.alipay.signing import generate_keypair

    app_keys, alipay_keys = generate_keypair(), generate_keypair()
    keys_file, times_file = tmp / "keys.json", tmp / "times.json"
    keys_file.write_text(json.dumps({"app_public": app_keys.public_pem, "alipay_private": alipay_keys.private_pem,
                                     "alipay_public": alipay_keys.public_pem}))
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "bench.bench_exit_to_order", "--alipay-child", str(port),
                              str(keys_file), str(times_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(REPO))
    if child.stdout.readline().strip() != b"ready":
        raise SystemExit("the local Alipay did not start")
    return app_keys, alipay_keys, child, port, times_file


def sign_up(platform, client, alipay_url: str, plates: list[str], sender) -> None:  # noqa: ANN001
    """One driver a plate: an account, the plate bound, a withholding agreement signed at the local Alipay."""
    from billing.agreements import Agreements

    console.print(f"signing up {len(plates)} drivers with agreements ...")
    agreements = Agreements(uow=platform.uow, clock=platform.clock, alipay=client)
    with httpx.Client(base_url=alipay_url, timeout=10) as control:
        for i, plate in enumerate(plates):
            phone = f"139{i:08d}"
            platform.accounts.request_code(phone)
            account = platform.accounts.sign_in(phone, sender.last_code(phone)).account_id
            platform.accounts.bind_plate(account, plate)
            control.post("/_control/agreements", json={"external_agreement_no": account}).raise_for_status()
            agreements.start(account)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Latency from an exit published over MQTT to its order and its charge request.")
    ap.add_argument("--cars", type=int, default=300)
    ap.add_argument("--rate", type=float, default=5.0, help="exits per second")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of a SQLite file")
    ap.add_argument("--redis", action="store_true", help="live state in Redis (REDIS_URL, a prefix of its own) instead of in-process")
    ap.add_argument("--background", type=float, default=0.0, help="simulated city messages/s from another process")
    ap.add_argument("--lots", type=int, default=3300, help="car parks of the background city")
    ap.add_argument("--sdk-sign", action="store_true",
                    help="the baseline: sign requests with the SDK's pure-Python `rsa`, as before billing/alipay/client.py "
                         "signed through OpenSSL (byte-identical signatures)")
    ap.add_argument("--serve", action="store_true",
                    help="through `parking serve --http-workers 2 --workers 1` on PostgreSQL and Redis, as the README runs it "
                         "(only publish -> trade.pay is seen from outside)")
    ap.add_argument("--alipay-child", nargs=3, metavar=("PORT", "KEYS", "TIMES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.alipay_child:
        alipay_child(int(args.alipay_child[0]), args.alipay_child[1], args.alipay_child[2])
        return
    if args.sdk_sign and args.serve:
        ap.error("--sdk-sign changes this process's signing; with --serve the charges are signed by parking serve")
    if args.sdk_sign:
        use_sdk_signing()

    import uvicorn

    from billing.alipay.client import AlipaySettings, build_client
    from billing.events import OrderCreated
    from billing.service import BillingSettings
    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from parking_core.messagebus import HandlerMap
    from parking_core.notify import RecordingNotifier, RecordingSender
    from parking_core.settings import load_settings
    from sensors.simulator import generate_city

    os.environ["PARKING_RATE_LIMIT_PER_MIN"] = "0"
    features = [exit_lot()] + (generate_city(args.lots, seed=1)["features"] if args.background else [])
    lots = parse_registry({"type": "FeatureCollection", "features": features})
    prefix = "parking/v1"
    plates = [f"苏E{i:05d}" for i in range(args.cars)]
    committed: dict[str, float] = {}
    if args.serve:
        return serve_main(args, features, plates)

    with private_mosquitto() as target, tempfile.TemporaryDirectory(prefix="bench-exit-") as tmp, \
            database("pg" if args.pg else "sqlite", Path(tmp)) as url:
        prepare_database(url, lots)
        app_keys, alipay_keys, child, alipay_port, times_file = start_local_alipay(Path(tmp))
        redis_prefix = f"bench:exit:{os.getpid()}:"
        settings = load_settings(DATABASE_URL=url, REDIS_URL=REDIS_URL if args.redis else "", PARKING_REDIS_PREFIX=redis_prefix, MQTT_URL=f"mqtt://platform@{target.host}:{target.port}",
                                 PARKING_TOPIC_PREFIX=prefix, PARKING_MQTT_CLIENT_ID="bench-exit-ingest", PARKING_DATA_DIR=tmp)
        port = free_port()
        alipay_url = f"http://127.0.0.1:{alipay_port}"
        client = build_client(AlipaySettings(app_id="2021000000000001", app_private_key_pem=app_keys.private_pem,
                                             alipay_public_key_pem=alipay_keys.public_pem, server_url=f"{alipay_url}/gateway.do",
                                             notify_url=f"http://127.0.0.1:{port}/v1/payments/alipay/notify"))
        sender = RecordingSender()
        timed = HandlerMap(after_commit={OrderCreated: [lambda e: committed.setdefault(e.plate, time.monotonic())]})
        platform = Platform(settings, alipay=client, code_sender=sender, notifier=RecordingNotifier(),
                            # the drivers' plates are bound, not proven (plate verification is a step before the exit,
                            # not part of the path measured): withhold from unverified bindings, as a deployment may
                            billing_settings=BillingSettings(PARKING_WITHHOLD_UNVERIFIED=True), more_handlers=timed).start()
        server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", access_log=False))
        web = threading.Thread(target=server.run, name="http", daemon=True)
        web.start()
        load = None
        try:
            wait_until(lambda: server.started, 30, 0.05)
            sign_up(platform, client, alipay_url, plates, sender)

            if args.background:
                load = subprocess.Popen(
                    [sys.executable, "-m", "sensors.simulator.run", "--url", f"mqtt://simulator@{target.host}:{target.port}",
                     "--rate", str(args.background), "--lots", str(args.lots), "--seed", "1", "--prefix", prefix, "--quiet"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO))
                time.sleep(3.0)
            cpu0 = time.process_time()
            published = drive(target, prefix, plates, args.rate, lambda what: _count(platform, what))
            paid = _count(platform, "payments")
            cpu_ms = (time.process_time() - cpu0) * 1000 / args.cars
        finally:
            child.stdin.close()
            child.wait(30)
            if load is not None:
                load.kill()
            server.should_exit = True
            web.join(10)
            if args.redis:
                platform.live.clear()
            platform.stop()
        requested = json.loads(times_file.read_text()) if times_file.exists() else {}

    order_ms = [(committed[p] - published[p]) * 1000 for p in plates if p in committed]
    charge_ms = [(requested[p] - published[p]) * 1000 for p in plates if p in requested]
    console.print(f"[bold]bench_exit_to_order[/]: {args.cars} exits at {args.rate}/s, database {'PostgreSQL' if args.pg else 'SQLite'}, "
                  f"live state {'in Redis' if args.redis else 'in-process'}, "
                  f"signing {'the SDK (pure-Python rsa, --sdk-sign)' if args.sdk_sign else 'OpenSSL (the seam)'}, "
                  f"background {args.background:,.0f} msg/s; {len(order_ms)} orders, {len(charge_ms)} charges requested, "
                  f"{paid} payments recorded (answer or notification); this process used {cpu_ms:.1f} ms of CPU per exit "
                  "(ingest, order, charge, notification)")
    rows = [(name, len(xs), percentile(xs, 50), percentile(xs, 90), percentile(xs, 99), max(xs) if xs else float("nan"))
            for name, xs in (("out published -> order committed", order_ms), ("out published -> trade.pay at Alipay", charge_ms))]
    table("exit to order, ms", ["", "n", "p50", "p90", "p99", "max"], rows)


def drive(target, prefix: str, plates: list[str], rate: float, count) -> dict[str, float]:  # noqa: ANN001
    """Every car enters (two hours ago), then one exits every 1/rate s; when each exit was published (monotonic)."""
    gate = connected_client(target, "bench-exit-gate")
    topic = f"{prefix}/lots/{LOT}/gates/g1/passages"
    entered = datetime.now(timezone.utc) - timedelta(hours=2)
    for i, plate in enumerate(plates):
        gate.publish(topic, orjson.dumps({"event_id": f"in-{i}", "direction": "in", "plate": plate, "ts": entered.isoformat()}), qos=1)
    if not wait_until(lambda: count("open") >= len(plates), 120, 0.1):
        raise SystemExit(f"only {count('open')} of {len(plates)} entries arrived")
    console.print(f"{len(plates)} cars inside; {len(plates)} exits at {rate}/s ...")
    published, gap, start = {}, 1.0 / rate, time.monotonic()
    for i, plate in enumerate(plates):
        while time.monotonic() < start + i * gap:
            time.sleep(0.0005)
        payload = orjson.dumps({"event_id": f"out-{i}", "direction": "out", "plate": plate, "ts": datetime.now(timezone.utc).isoformat()})
        published[plate] = time.monotonic()
        gate.publish(topic, payload, qos=1)
    if not wait_until(lambda: count("payments") >= len(plates), 120, 0.1):
        console.print(f"[red]only {count('payments')} of {len(plates)} orders paid[/]")
    gate.loop_stop()
    gate.disconnect()
    return published


def serve_main(args, features: list[dict], plates: list[str]) -> None:  # noqa: ANN001
    """--serve: the production configuration as the README runs it. `parking serve --http-workers 2 --workers 1`
    on PostgreSQL, Redis and a private Mosquitto, Alipay configured by its ALIPAY_* settings (the local one here),
    the simulator publishing --background msg/s; drivers are signed up beforehand through the platform's own
    accounts and agreements. Only the charge's arrival at Alipay is seen from outside: publish -> trade.pay."""
    from billing.alipay.client import AlipaySettings, build_client
    from gateways.bootstrap import Platform
    from parking_core.notify import RecordingNotifier, RecordingSender
    from parking_core.settings import load_settings

    city = {"type": "FeatureCollection", "features": features}
    prefix = "parking/v1"
    with private_mosquitto() as target, tempfile.TemporaryDirectory(prefix="bench-exit-") as tmp, database("pg", Path(tmp)) as url:
        app_keys, alipay_keys, child, alipay_port, times_file = start_local_alipay(Path(tmp))
        alipay_url, port = f"http://127.0.0.1:{alipay_port}", free_port()
        mqtt_url = f"mqtt://{target.username}@{target.host}:{target.port}"
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "PARKING_REDIS_PREFIX": f"bench:exit:{os.getpid()}:",
               "MQTT_URL": mqtt_url, "PARKING_TOPIC_PREFIX": prefix, "PARKING_DATA_DIR": str(Path(tmp) / "data"),
               "PARKING_MQTT_CLIENT_ID": f"bench-exit-{os.getpid()}", "PARKING_RATE_LIMIT_PER_MIN": "0",
               "PARKING_WITHHOLD_UNVERIFIED": "true",  # plates bound, not proven: plate verification is not the path measured
               "ALIPAY_APP_ID": "2021000000000001", "ALIPAY_APP_PRIVATE_KEY": app_keys.private_pem,
               "ALIPAY_PUBLIC_KEY": alipay_keys.public_pem, "ALIPAY_SERVER_URL": f"{alipay_url}/gateway.do",
               "ALIPAY_NOTIFY_URL": f"http://127.0.0.1:{port}/v1/payments/alipay/notify"}
        cli = prepare_serve(city, env, Path(tmp))
        client = build_client(AlipaySettings(app_id="2021000000000001", app_private_key_pem=app_keys.private_pem,
                                             alipay_public_key_pem=alipay_keys.public_pem, server_url=f"{alipay_url}/gateway.do"))
        sender = RecordingSender()
        names = ("DATABASE_URL", "REDIS_URL", "PARKING_REDIS_PREFIX", "PARKING_TOPIC_PREFIX", "PARKING_DATA_DIR")
        accounts = Platform(load_settings(**{k: env[k] for k in names}), with_ingest=False, alipay=client, code_sender=sender,
                            notifier=RecordingNotifier()).start()
        log = Path(tmp) / "serve.log"
        serve = load = None
        try:
            sign_up(accounts, client, alipay_url, plates, sender)
            serve = subprocess.Popen(cli + ["serve", "--port", str(port), "--dev", "--http-workers", "2", "--workers", "1"],
                                     env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

            def subscribed() -> bool:  # the ingest's persistent session holds what is published from now on
                try:
                    workers = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json().get("ingest", {}).get("workers", [])
                except (httpx.HTTPError, ValueError):
                    return False
                return bool(workers) and all(w.get("alive") and w.get("subscribed") for w in workers)

            if not wait_until(subscribed, 180, 0.5):
                raise SystemExit(f"parking serve did not come up; see {log}")
            if args.background:
                load = subprocess.Popen(
                    [sys.executable, "-m", "sensors.simulator.run", "--url", mqtt_url, "--rate", str(args.background),
                     "--lots", str(args.lots), "--seed", "1", "--prefix", prefix, "--quiet"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO))
                time.sleep(3.0)
            published = drive(target, prefix, plates, args.rate, lambda what: _count(accounts, what))
            paid = _count(accounts, "payments")
        finally:
            child.stdin.close()
            child.wait(30)
            for proc in (load, serve):
                if proc is not None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            accounts.live.clear()
            accounts.stop()
        requested = json.loads(times_file.read_text()) if times_file.exists() else {}
    charge_ms = [(requested[p] - published[p]) * 1000 for p in plates if p in requested]
    console.print(f"[bold]bench_exit_to_order --serve[/]: {args.cars} exits at {args.rate}/s through `parking serve --http-workers 2 "
                  f"--workers 1` (PostgreSQL, Redis, Mosquitto), background {args.background:,.0f} msg/s; "
                  f"{len(charge_ms)} charges requested, {paid} payments recorded")
    table("exit to charge, ms", ["", "n", "p50", "p90", "p99", "max"],
          [("out published -> trade.pay at Alipay", len(charge_ms), percentile(charge_ms, 50), percentile(charge_ms, 90),
            percentile(charge_ms, 99), max(charge_ms) if charge_ms else float("nan"))])


def _count(platform, what: str) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from billing.models import Payment
    from parking_core.session_models import ParkingSession

    q = select(func.count()).select_from(Payment) if what == "payments" else \
        select(func.count()).select_from(ParkingSession).where(ParkingSession.lot_id == LOT, ParkingSession.status == what)
    with platform.uow() as uow:
        return uow.session.scalar(q)


if __name__ == "__main__":
    main()
