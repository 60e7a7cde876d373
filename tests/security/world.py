"""A city with real data for the authorization matrix: operator X (car park X1 in district dx) and operator Y
(car park Y1 in dy); driver A with a verified plate, a stay and an order at X1, a dispute about A's plate,
a plate verification, a refund waiting for approval; driver B with nothing; a key per principal."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import select

from billing.agreements import Agreements
from billing.alipay.client import build_client
from billing.models import Order
from billing.service import BillingSettings
from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.operator.permissions import OperatorKeys, env_principal, principals_of
from gateways.operator.registry_import import import_registry
from gateways.operator.settings import OperatorSettings
from gateways.schema import upgrade
from parking_core.accounts import Accounts, AccountSettings
from parking_core.db import kept
from parking_core.notify import RecordingNotifier, RecordingSender
from parking_core.settings import load_settings
from tests.billing_flow.conftest import PNG, Served
from tests.factories import FrozenClock, feature, passage_msg, registry

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)  # 14:00 in Shanghai
CITY_KEY = "matrix-city-" + "c" * 24
PRINCIPALS = ("anon", "A", "B", "Xstaff", "Xfin", "Xadmin", "Yadmin", "D", "city")
_phones = itertools.count(13_800_000_000)
_events = itertools.count(1)
_plates = itertools.count(10_000)


def city() -> dict:
    return registry(
        feature("X1", name="X car park", operator="opx", district="dx", total=50, tariff="suzhou-offstreet", lat=31.30, lon=120.60),
        feature("XS", name="X street", kind="on_street", operator="opx", district="dx", total=2, berths=["b1", "b2"], lat=31.301, lon=120.601),
        feature("Y1", name="Y car park", operator="opy", district="dy", total=50, tariff="suzhou-offstreet", lat=31.40, lon=120.70),
    )


@dataclass
class World:
    platform: object
    api: TestClient
    sender: RecordingSender
    accounts: Accounts
    served: Served
    headers: dict[str, dict] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)  # Authorization header -> that driver's refresh token
    cell: dict[str, str] = field(default_factory=dict)     # what the current cell was given (a fresh driver's plate)

    def op(self, name: str, *, org_kind: str, org_id: str, role: str) -> dict:
        issued = principals_of(self.platform).issue_key(actor=env_principal("city"), org_kind=org_kind, org_id=org_id,
                                                        role=role, label=name, valid_days=30)
        return {"X-Operator-Key": issued.secret}

    def key_id(self, org_id: str = "opx", role: str = "viewer") -> str:
        """A fresh API key of an organisation, for a revocation cell."""
        issued = principals_of(self.platform).issue_key(actor=env_principal("city"), org_kind="operator", org_id=org_id,
                                                        role=role, label="to revoke", valid_days=30)
        return issued.key.id

    def driver(self, *, plate: bool = True) -> tuple[dict, str | None]:
        """A driver signed in through the HTTP API; with a plate proved theirs (evidence approved by the city)."""
        phone = str(next(_phones))
        assert self.api.post("/v1/auth/code", json={"phone": phone}).status_code == 202
        r = self.api.post("/v1/auth/token", json={"phone": phone, "code": self.sender.last_code(phone)})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.refresh[headers["Authorization"]] = r.json()["refresh_token"]
        if not plate:
            return headers, None
        number = f"苏E{next(_plates)}"
        r = self.api.post("/v1/me/plates", headers=headers, json={"plate": number})
        assert r.status_code in (200, 201), r.text
        r = self.api.post(f"/v1/me/plates/{number}/evidence", headers=headers, files={"file": ("licence.png", PNG, "image/png")})
        assert r.status_code in (200, 201), r.text
        r = self.api.post(f"/v1/operator/plate-verifications/{r.json()['id']}/approve", headers={"X-Operator-Key": CITY_KEY})
        assert r.status_code == 200, r.text
        return headers, number

    def stay(self, plate: str, *, lot: str = "X1", minutes: int = 600, exit_: bool = True) -> str:
        """A car enters (and leaves) X's car park through the ingest pipeline; the stay's id, or the order's."""
        start = self.platform.clock() - timedelta(minutes=minutes)
        before = {o.id for o in self.orders()}
        self.platform.pipeline.process([passage_msg(lot, "in1", f"m{next(_events)}", "in", plate, start)])
        if not exit_:
            return ""
        self.platform.pipeline.process([passage_msg(lot, "out1", f"m{next(_events)}", "out", plate, self.platform.clock())])
        (made,) = [o for o in self.orders() if o.id not in before]
        return made.id

    def orders(self) -> list[Order]:
        with self.platform.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(select(Order))))

    def new_order(self) -> str:
        """A fresh order of A's plate at X1 (for a cell that changes an order)."""
        return self.stay(self.ids["plate_a"])

    def fresh_code(self) -> dict:
        """A phone and the code just sent to it (a sign-in cell)."""
        phone = str(next(_phones))
        assert self.api.post("/v1/auth/code", json={"phone": phone}).status_code == 202
        return {"phone": phone, "code": self.sender.last_code(phone)}

    def fresh_refresh(self) -> str:
        r = self.api.post("/v1/auth/token", json=self.fresh_code())
        assert r.status_code == 200, r.text
        return r.json()["refresh_token"]

    def device(self) -> str:
        """A new gate camera registered at X1 by the city (a credential cell)."""
        device_id = f"cam{next(_events)}"
        r = self.api.post("/v1/operator/lots/X1/devices", headers={"X-Operator-Key": CITY_KEY},
                          json={"id": device_id, "kind": "gate_camera", "gate": "in1"})
        assert r.status_code in (200, 201), r.text
        return device_id

    def pending_verification(self) -> str:
        """A new driver's plate, bound and with evidence uploaded, waiting for a decision; the car parked at X1."""
        headers, _ = self.driver(plate=False)
        plate = f"苏K{next(_plates)}"
        assert self.api.post("/v1/me/plates", headers=headers, json={"plate": plate}).status_code in (200, 201)
        self.stay(plate)
        r = self.api.post(f"/v1/me/plates/{plate}/evidence", headers=headers, files={"file": ("l.png", PNG, "image/png")})
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]

    def paid_order(self) -> str:
        """A fresh order of A's at X1, charged through A's withholding agreement and paid (a refund cell)."""
        order_id = self.new_order()
        self.platform.billing.worker.run_once()
        self.gw.wait_idle(10)
        self.gw.wait_for(lambda: self.order_status(order_id) == "paid", 10)
        return order_id

    def order_status(self, order_id: str) -> str:
        with self.platform.uow() as uow:
            return uow.session.get(Order, order_id).status

    def stay_of(self, order_id: str) -> str:
        with self.platform.uow() as uow:
            return uow.session.get(Order, order_id).session_id


def build_world(tmp, alipay_gw, app_keys) -> World:
    served = Served()
    client = build_client(alipay_gw.client_settings(app_private_key_pem=app_keys.private_pem,
                                                    notify_url=f"{served.url}/v1/payments/alipay/notify"))
    sender, notices = RecordingSender(), RecordingNotifier()
    platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp / 'matrix.db'}", PARKING_DATA_DIR=str(tmp / "data"),
),
                        clock=FrozenClock(NOW), with_ingest=False, alipay=client, publish_sink=lambda t, p, r: None,
                        code_sender=sender, notifier=notices, billing_settings=BillingSettings(poll_s=0.2, query_after_s=60))
    upgrade(platform.engine)
    import_registry(platform, city())
    platform.start()
    platform.accounts = Accounts.from_settings(AccountSettings(token_ttl_s=86_400), data_dir=platform.settings.data_dir,
                                               uow=platform.uow, clock=platform.clock, sender=sender, notifier=notices)
    platform.operator_keys = OperatorKeys({"city": CITY_KEY})
    platform.__dict__["_operator_settings"] = OperatorSettings(refund_approval_above_fen=100)  # 50 fen refunds at once, 200 waits
    app = create_app(platform)
    served.start(app)
    w = World(platform, TestClient(app), sender, platform.accounts, served)
    w.gw = alipay_gw
    w.agreements = Agreements(uow=platform.uow, clock=platform.clock, alipay=client)
    h = w.headers
    h["anon"] = {}
    h["A"], w.ids["plate_a"] = w.driver()
    h["B"], _ = w.driver(plate=False)
    h["Xstaff"] = w.op("Xstaff", org_kind="operator", org_id="opx", role="staff")
    h["Xfin"] = w.op("Xfin", org_kind="operator", org_id="opx", role="finance")
    h["Xadmin"] = w.op("Xadmin", org_kind="operator", org_id="opx", role="admin")
    h["Yadmin"] = w.op("Yadmin", org_kind="operator", org_id="opy", role="admin")
    h["D"] = w.op("D", org_kind="district", org_id="dx", role="viewer")
    h["city"] = {"X-Operator-Key": CITY_KEY}
    account_a = w.api.get("/v1/me", headers=h["A"]).json()["account_id"]
    alipay_gw.sign_agreement(account_a)
    assert w.agreements.start(account_a).status == "active"
    w.ids["order_a"] = w.new_order()
    w.ids["stay_a"] = w.stay_of(w.ids["order_a"])
    w.ids["password"] = "matrix-password-" + "p" * 12
    principals_of(platform).add_user(actor=env_principal("city"), username="x.staff", password=w.ids["password"],
                                     org_kind="operator", org_id="opx", role="staff")
    w.ids["verification"] = w.pending_verification()
    r = w.api.post("/v1/operator/reconciliation/days/2026-11-23/run", headers=h["city"])  # a day with a run (and its cases)
    assert r.status_code == 200, r.text
    return w
