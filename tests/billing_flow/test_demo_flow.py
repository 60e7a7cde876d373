"""The demo flow on embedded defaults, through the public doors only: a driver signs up, binds a plate and signs
the withholding agreement; the car enters and leaves through the ingest pipeline; the order exists as soon as
the exit is processed, is charged through the local Alipay in the background, and shows as paid."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.factories import passage_msg

pytestmark = pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)


def test_enter_leave_and_see_the_order_paid(billing_env):
    env = billing_env(worker_thread=True)
    api = env.api
    phone = "13912345678"
    assert api.post("/v1/auth/code", json={"phone": phone}).status_code == 202
    token = api.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)}).json()["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    assert api.post("/v1/me/plates", json={"plate": "苏E·12345", "color": "blue"}, headers=me).status_code == 201
    env.verify(me, "苏E12345")  # the licence photo, approved (tests/plates_ownership: what an unverified holder sees)
    sign_url = api.post("/v1/me/agreement", headers=me).json()["sign_url"]
    assert httpx.get(sign_url, timeout=10).status_code == 200  # the driver signs on Alipay's page
    env.gw.wait_for(lambda: api.get("/v1/me", headers=me).json()["agreement"]["status"] == "active")

    now = env.clock()
    env.platform.pipeline.process([passage_msg("G1", "in1", "demo-in", "in", "苏E12345", now - timedelta(hours=2, minutes=40),
                                               plate_color="blue", confidence=0.97)])
    env.platform.pipeline.process([passage_msg("G1", "out1", "demo-out", "out", "苏E12345", now)])
    (order,) = api.get("/v1/me/orders", headers=me).json()["orders"]  # exists the moment the exit is processed
    assert (order["amount_fen"], order["tariff_id"], order["plate"]) == (600, "suzhou-offstreet", "苏E12345")

    env.gw.wait_for(lambda: api.get(f"/v1/me/orders/{order['id']}", headers=me).json()["status"] == "paid")
    paid = api.get(f"/v1/me/orders/{order['id']}", headers=me).json()
    assert (paid["paid_fen"], paid["owed_fen"], len(paid["payments"])) == (600, 0, 1)
    env.gw.wait_idle(5)
    delivered = [d for d in env.gw.deliveries() if d.params.get("out_trade_no") == paid["payments"][0]["out_trade_no"]]
    assert [d.state for d in delivered] == ["acknowledged"]  # Alipay's notification was answered `success`
    (receipt,) = api.get("/v1/me/receipts", headers=me).json()["receipts"]
    assert sum(line["fen"] for line in receipt["lines"]) == 600
    (stay,) = api.get("/v1/me/sessions", headers=me).json()["sessions"]
    assert (stay["status"], stay["order"]["status"]) == ("closed", "paid")
