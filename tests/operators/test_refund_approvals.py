"""Refunds above PARKING_REFUND_APPROVAL_ABOVE_FEN wait for a second person with role finance: nothing reaches
Alipay until then, the person who asked cannot approve, and approving twice refunds once."""
from __future__ import annotations

import pytest

from gateways.operator.permissions import principals_of
from tests.billing_flow.conftest import alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.operators.conftest import CITY


@pytest.fixture
def env(billing_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PARKING_REFUND_APPROVAL_ABOVE_FEN", "300")
    e = billing_env()
    e.keys = {}
    for name, org, role in (("clerk", "op2", "staff"), ("boss", "op2", "finance"), ("cfo", "op2", "finance"),
                            ("other_finance", "op1", "finance")):
        issued = principals_of(e.platform).issue_key(actor=CITY, org_kind="operator", org_id=org, role=role, label=name)
        e.keys[name] = {"X-Operator-Key": issued.secret}
    return e


def _paid(env, plate: str):
    env.driver(plate)
    order = env.stay(plate, minutes=150)  # at G1 (op2): 400 fen
    env.work()
    assert env.order(order.id).status == "paid" and env.order(order.id).paid_fen == 400
    return order


def _refund(env, who, order_id, amount_fen, request_id):
    return env.api.post(f"/v1/operator/orders/{order_id}/refund", headers=env.keys[who],
                        json={"amount_fen": amount_fen, "reason": "barrier fault", "request_id": request_id})


def test_a_refund_above_the_limit_waits_for_another_finance_person(env):
    order = _paid(env, "苏E12345")
    r = _refund(env, "clerk", order.id, 400, "big-1")
    assert r.status_code == 202, r.text
    pending = r.json()
    assert (pending["status"], pending["amount_fen"], pending["requested_by"]) == ("pending", 400, "clerk")
    assert _refund(env, "clerk", order.id, 400, "big-1").json()["approval_id"] == pending["approval_id"]  # a retry
    assert env.order(order.id).refunded_fen == 0 and not env.gw.gateway.ledger.refunds  # nothing sent to Alipay
    queue = env.api.get("/v1/operator/refund-approvals", params={"status": "pending"}, headers=env.keys["boss"]).json()
    assert [a["approval_id"] for a in queue["approvals"]] == [pending["approval_id"]]

    url = f"/v1/operator/refund-approvals/{pending['approval_id']}/approve"
    assert env.api.post(url, headers=env.keys["clerk"]).status_code == 403  # staff, and the one who asked
    r = env.api.post(url, headers=env.keys["other_finance"])
    assert r.status_code == 403 and env.order(order.id).refunded_fen == 0  # another operator's refund
    r = env.api.post(url, headers=env.keys["boss"], json={"note": "checked the barrier log"})
    assert r.status_code == 200, r.text
    assert (r.json()["approval"]["status"], r.json()["approval"]["decided_by"]) == ("approved", "boss")
    assert (r.json()["refund"]["status"], r.json()["refund"]["amount_fen"]) == ("succeeded", 400)
    assert env.api.post(url, headers=env.keys["cfo"]).json()["refund"]["out_request_no"] == r.json()["refund"]["out_request_no"]
    assert env.order(order.id).refunded_fen == 400 and len(env.gw.gateway.ledger.refunds) == 1

    audit = env.api.get("/v1/operator/audit", params={"action": ["refund.request", "refund.approve", "refund"]},
                        headers=env.keys["boss"]).json()["entries"]
    assert [(e["action"], e["actor_name"]) for e in reversed(audit)] == [
        ("refund.request", "clerk"), ("refund.approve", "boss"), ("refund", "boss")]


def test_the_person_who_asked_cannot_approve_and_a_rejection_refunds_nothing(env):
    order = _paid(env, "苏E54321")
    pending = _refund(env, "boss", order.id, 350, "big-2").json()
    url = f"/v1/operator/refund-approvals/{pending['approval_id']}"
    r = env.api.post(url + "/approve", headers=env.keys["boss"])
    assert r.status_code == 403 and "asked for this refund" in r.json()["message"]
    r = env.api.post(url + "/reject", headers=env.keys["cfo"], json={"note": "no fault found"})
    assert r.status_code == 200 and (r.json()["approval"]["status"], r.json()["refund"]) == ("rejected", None)
    assert env.api.post(url + "/approve", headers=env.keys["cfo"]).status_code == 409
    assert env.order(order.id).refunded_fen == 0 and not env.gw.gateway.ledger.refunds


def test_a_refund_within_the_limit_goes_at_once_and_splitting_does_not_escape_the_limit(env):
    order = _paid(env, "苏E77777")
    r = _refund(env, "clerk", order.id, 300, "small-1")
    assert r.status_code == 201 and r.json()["status"] == "succeeded"
    r = _refund(env, "clerk", order.id, 100, "small-2")  # 300 + 100 refunded would pass the limit
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert env.order(order.id).refunded_fen == 300
    listed = env.api.get("/v1/operator/refunds", headers=env.keys["clerk"]).json()["refunds"]
    assert [(r["order_id"], r["amount_fen"], r["status"]) for r in listed] == [(order.id, 300, "succeeded")]
    assert env.api.get("/v1/operator/refunds", headers=env.keys["other_finance"]).json()["refunds"] == []  # op1's
