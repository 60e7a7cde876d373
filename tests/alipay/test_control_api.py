"""The local gateway's HTTP control API, as a demo script or another process would drive it."""
from __future__ import annotations

import httpx
import pytest

from billing.alipay.client import AlipayRefused, AlipaySignatureInvalid, trade_pay_withholding, trade_precreate, trade_query


@pytest.fixture
def control(gateway):
    with httpx.Client(base_url=f"{gateway.base_url}/_control", trust_env=False) as http:
        yield http


def test_agreement_and_charge_failure_through_control(control, client):
    agreement = control.post("/agreements", json={"external_agreement_no": "USER-1"}).json()
    assert agreement["status"] == "NORMAL"
    assert control.post("/charge-rules", json={"sub_code": "ACQ.PAYMENT_AUTH_CODE_INVALID", "times": 2}).status_code == 201
    for _ in range(2):
        with pytest.raises(AlipayRefused) as refused:
            trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=100, subject="停车费", agreement_no=agreement["agreement_no"])
        assert refused.value.sub_code == "ACQ.PAYMENT_AUTH_CODE_INVALID"
    assert trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=100, subject="停车费",
                                 agreement_no=agreement["agreement_no"]).status == "paid"
    state = control.get("/state").json()
    assert [t["out_trade_no"] for t in state["trades"]] == ["ORD-1"] and state["charge_rules"] == []


def test_bad_control_body_is_422(control):
    assert control.post("/charge-rules", json={"outcome": "explode"}).status_code == 422
    assert control.put("/notify-policy", json={"time_scale": 0}).status_code == 422


def test_notify_policy_tamper_and_log_through_control(gateway, control, client, receiver):
    assert control.put("/notify-policy", json={"drop_first": 1, "time_scale": 2e-6}).json()["drop_first"] == 1
    trade_precreate(client, out_trade_no="ORD-2", amount_fen=300, subject="停车费")
    assert control.post("/trades/ORD-2/pay").json()["status"] == "TRADE_SUCCESS"
    assert gateway.wait_idle(5)
    (entry,) = control.get("/notifications").json()
    assert [a["outcome"] for a in entry["attempts"]] == ["dropped", "acknowledged"]
    control.post("/tamper", json={"count": 1})
    with pytest.raises(AlipaySignatureInvalid):
        trade_query(client, out_trade_no="ORD-2")
    assert control.post("/trades/ORD-2/finish").json()["finished"] is True
    assert control.post("/trades/NOPE/pay").status_code == 404
    keys = control.get("/keys").json()
    assert keys["alipay_public_key_pem"] == gateway.alipay_public_key_pem and "PRIVATE" not in str(keys)
