"""A platform built as the composition root builds it, with a local Alipay (chosen at construction) that
delivers its notifications to the platform's own HTTP server, recording notices, and a frozen clock.

Tests drive the payment worker by hand (`env.work()`) unless they ask for its thread."""
from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from alipay_standin import LocalAlipay, NotifyPolicy, start_local_alipay
from billing.agreements import Agreements
from billing.alipay.client import build_client
from billing.alipay.signing import generate_keypair
from billing.models import Order, Payment
from billing.service import Billing, BillingSettings
from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.operator.permissions import OperatorKeys
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.accounts import Accounts, AccountSettings
from parking_core.db import kept
from parking_core.notify import RecordingNotifier, RecordingSender
from parking_core.settings import load_settings
from tests.factories import FrozenClock, city_registry, passage_msg

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai
OPERATOR_KEY = "billing-op-" + "k" * 24
OPERATOR = {"X-Operator-Key": OPERATOR_KEY}
_phones = itertools.count(13_700_000_000)
_events = itertools.count(1)


@pytest.fixture(scope="session")
def app_keys():
    return generate_keypair()


@pytest.fixture(scope="session")
def alipay_keys():
    return generate_keypair()


@pytest.fixture
def alipay_gw(app_keys, alipay_keys):
    gw = start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=alipay_keys,
                            notify_policy=NotifyPolicy(time_scale=2e-6), same_day_bills=True)
    yield gw
    gw.stop()


class Served:
    """The platform's app on a localhost port, so the local Alipay can deliver notifications to it. The port is
    taken first: the Alipay client, which the platform is built with, needs the notify URL."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = None

    def start(self, app) -> None:  # noqa: ANN001
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "app server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
        self.sock.close()


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # what a licence photo starts with (the type is judged by content)


@dataclass
class Driver:
    account_id: str
    headers: dict[str, str]
    plate: str


@dataclass
class Env:
    platform: object
    billing: Billing
    gw: LocalAlipay
    api: TestClient
    notices: RecordingNotifier
    sender: RecordingSender
    accounts: Accounts
    served: Served
    published: list = field(default_factory=list)
    agreements: Agreements | None = None

    @property
    def clock(self):
        return self.platform.clock

    def driver(self, plate: str = "苏E12345", *, agreement: bool = True, color: str | None = None,
               verified: bool = True) -> Driver:
        """A signed-in driver holding `plate` (proved theirs unless told otherwise), with an active withholding
        agreement unless told otherwise."""
        phone = str(next(_phones))
        self.accounts.request_code(phone)
        token = self.accounts.sign_in(phone, self.sender.last_code(phone))
        self.accounts.bind_plate(token.account_id, plate, color)
        if verified:
            self.verify({"Authorization": f"Bearer {token.access_token}"}, plate)
        with self.notices._lock:  # the binding's own notice (tests/accounts) is not what billing's tests count
            self.notices.notices[:] = [n for n in self.notices.notices if not (n.account_id == token.account_id and n.kind == "plate_bound")]
        if agreement:
            self.gw.sign_agreement(token.account_id)
            assert self.agreements.start(token.account_id).status == "active"
        return Driver(token.account_id, {"Authorization": f"Bearer {token.access_token}"}, plate)

    def verify(self, headers: dict[str, str], plate: str) -> None:
        """Prove the plate is the driver's the real way: upload a licence photo, the city approves it."""
        r = self.api.post(f"/v1/me/plates/{plate}/evidence", headers=headers, files={"file": ("licence.png", PNG, "image/png")})
        assert r.status_code in (200, 201), r.text
        r = self.api.post(f"/v1/operator/plate-verifications/{r.json()['id']}/approve", headers={"X-Operator-Key": OPERATOR_KEY})
        assert r.status_code == 200, r.text
        with self.notices._lock:  # the verification's own notices are tests/plates_ownership's
            self.notices.notices[:] = [n for n in self.notices.notices if n.kind not in ("plate_verified", "plate_debts_moved")]

    def stay(self, plate: str, *, lot: str = "G1", minutes: int = 150, start: datetime | None = None, color: str | None = None) -> Order:
        """A car enters and leaves through the ingest pipeline; its order."""
        start = start or self.clock() - timedelta(minutes=minutes)
        extra = {"plate_color": color} if color else {}
        before = {o.id for o in self.orders()}
        self.platform.pipeline.process([passage_msg(lot, "in1", f"e{next(_events)}", "in", plate, start, **extra)])
        self.platform.pipeline.process([passage_msg(lot, "out1", f"e{next(_events)}", "out", plate, start + timedelta(minutes=minutes))])
        (made,) = [o for o in self.orders() if o.id not in before]
        return made

    def orders(self, **where) -> list[Order]:
        with self.platform.uow() as uow:
            q = select(Order)
            for k, v in where.items():
                q = q.where(getattr(Order, k) == v)
            return kept(uow.session, list(uow.session.scalars(q.order_by(Order.created_at, Order.id))))

    def order(self, order_id: str) -> Order:
        with self.platform.uow() as uow:
            return kept(uow.session, uow.session.get(Order, order_id))

    def payments(self, order_id: str | None = None) -> list[Payment]:
        with self.platform.uow() as uow:
            q = select(Payment) if order_id is None else select(Payment).where(Payment.order_id == order_id)
            return kept(uow.session, list(uow.session.scalars(q.order_by(Payment.id))))

    def work(self) -> dict:
        """One round of the payment worker, then wait until the local Alipay has delivered every notification."""
        done = self.billing.worker.run_once()
        self.gw.wait_idle(10)
        return done

    def wait_status(self, order_id: str, status: str, timeout_s: float = 10.0) -> Order:
        return self.gw.wait_for(lambda: (o := self.order(order_id)).status == status and o, timeout_s)


@pytest.fixture
def billing_env(backend_env, alipay_gw, app_keys, tmp_path):
    """Build an Env: `billing_env(worker_thread=False, **platform_env)`."""
    made: list[Env] = []

    def build(*, worker_thread: bool = False, now: datetime | None = None, settings: BillingSettings | None = None,
              registry: dict | None = None, **env) -> Env:
        served = Served()
        client = build_client(alipay_gw.client_settings(app_private_key_pem=app_keys.private_pem,
                                                        notify_url=f"{served.url}/v1/payments/alipay/notify"))
        sender, notices, published = RecordingSender(), RecordingNotifier(), []
        platform = Platform(load_settings(**{**backend_env, "PARKING_DATA_DIR": str(tmp_path / "data"), **env}),
                            clock=FrozenClock(now or T0 + timedelta(hours=4)), with_ingest=False, alipay=client,
                            publish_sink=lambda t, p, r: published.append((t, p, r)), code_sender=sender, notifier=notices,
                            billing_settings=settings or BillingSettings(poll_s=0.2, query_after_s=60))
        made.append(e := Env(platform, platform.billing, alipay_gw, None, notices, sender, None, served, published))
        upgrade(platform.engine)
        import_registry(platform, registry or city_registry())
        platform.start()
        # drivers in these flows stay signed in for the day while the clock jumps hours (tokens: tests/accounts)
        platform.accounts = e.accounts = Accounts.from_settings(
            AccountSettings(token_ttl_s=86_400), data_dir=platform.settings.data_dir, uow=platform.uow, clock=platform.clock,
            sender=sender, notifier=notices)
        e.agreements = Agreements(uow=platform.uow, clock=platform.clock, alipay=client)
        platform.operator_keys = OperatorKeys({"city": OPERATOR_KEY})  # the city admin (scoped keys: tests/operators)
        app = create_app(platform)
        served.start(app)
        e.api = TestClient(app)
        if worker_thread:
            platform.billing.worker.start()
        return e

    yield build
    for e in made:
        e.platform.stop()
        e.served.stop()
