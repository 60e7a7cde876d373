"""Refunds by operators: full or partial, with a reason, idempotent by request id, never more than was paid."""
from __future__ import annotations

import dataclasses

from billing.alipay.client import build_client
from tests.billing_flow.conftest import OPERATOR


def _paid(env, plate="苏E12345"):
    driver = env.driver(plate)
    order = env.stay(plate, minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
    return driver, order


def _refund(env, order_id, amount_fen, request_id, reason="barrier fault, driver waited"):
    return env.api.post(f"/v1/operator/orders/{order_id}/refund", headers=OPERATOR,
                        json={"amount_fen": amount_fen, "reason": reason, "request_id": request_id})


def test_a_full_refund_once_whatever_the_repeats(billing_env):
    env = billing_env()
    driver, order = _paid(env)
    r = _refund(env, order.id, 400, "req-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["amount_fen"], body["requested_by"]) == ("succeeded", 400, "city")
    again = _refund(env, order.id, 400, "req-1")
    assert (again.status_code, again.json()["out_request_no"]) == (200, body["out_request_no"])
    after = env.order(order.id)
    assert (after.status, after.refunded_fen, after.paid_fen) == ("refunded", 400, 400)
    assert len(env.gw.gateway.ledger.refunds) == 1
    (trade,) = env.gw.gateway.ledger.trades.values()
    assert (trade.refunded_fen, trade.status) == (400, "TRADE_CLOSED")
    env.gw.wait_idle(5)  # Alipay's refund notification came too and was acknowledged
    refund_notes = [d for d in env.gw.deliveries() if d.params.get("out_biz_no") == body["out_request_no"]]
    assert refund_notes and all(d.state == "acknowledged" for d in refund_notes)
    assert env.order(order.id).refunded_fen == 400
    assert [n.kind for n in env.notices.of(driver.account_id)] == ["order_paid", "order_refunded"]


def test_partial_refunds_add_up_to_at_most_what_was_paid(billing_env):
    env = billing_env()
    _, order = _paid(env)
    assert _refund(env, order.id, 100, "a").json()["status"] == "succeeded"
    assert env.order(order.id).status == "partially_refunded"
    too_much = _refund(env, order.id, 301, "b")
    assert (too_much.status_code, too_much.json()["field"], too_much.json()["details"]["refundable_fen"]) == (409, "amount_fen", 300)
    assert _refund(env, order.id, 300, "c").status_code == 201
    after = env.order(order.id)
    assert (after.status, after.refunded_fen) == ("refunded", 400)
    assert _refund(env, order.id, 1, "d").status_code == 409
    detail = env.api.get(f"/v1/operator/orders/{order.id}", headers=OPERATOR).json()
    assert [(r["request_id"], r["amount_fen"], r["status"]) for r in detail["refunds"]] == [("a", 100, "succeeded"), ("c", 300, "succeeded")]
    assert [a["to_status"] for a in detail["audit"] if a["action"] == "status"] == ["paying", "paid", "partially_refunded", "refunded"]


def test_a_request_id_reused_for_another_amount_and_refunds_of_unpaid_orders_are_refused(billing_env):
    env = billing_env()
    _, order = _paid(env)
    assert _refund(env, order.id, 100, "same").status_code == 201
    reused = _refund(env, order.id, 200, "same")
    assert (reused.status_code, reused.json()["field"]) == (409, "request_id")
    unpaid = env.stay("苏E99999", minutes=150)
    assert _refund(env, unpaid.id, 100, "x").status_code == 409
    assert _refund(env, "nope", 100, "x").status_code == 404
    assert _refund(env, order.id, 0, "zero").status_code == 422
    assert _refund(env, order.id, 10, "bad id!").status_code == 422
    assert env.api.post(f"/v1/operator/orders/{order.id}/refund", json={"amount_fen": 1, "reason": "r", "request_id": "q"}).status_code == 401


def test_alipay_refusing_a_refund_records_it_failed_and_changes_no_money(billing_env):
    env = billing_env()
    _, order = _paid(env)
    (payment,) = env.payments(order.id)
    env.gw.finish_trade(payment.out_trade_no)  # TRADE_FINISHED: Alipay takes no more refunds
    r = _refund(env, order.id, 100, "late")
    assert (r.status_code, r.json()["code"], r.json()["value"]) == (409, "refund_refused", "ACQ.TRADE_HAS_FINISHED")
    assert (env.order(order.id).status, env.order(order.id).refunded_fen) == ("paid", 0)
    (row,) = env.billing.refunds.of_order(order.id)
    assert row.status == "failed" and "TRADE_HAS_FINISHED" in row.failure_reason


def test_a_refund_alipay_did_not_answer_stays_pending_and_the_worker_completes_it(billing_env):
    env = billing_env()
    _, order = _paid(env)
    good = env.billing.refunds.alipay
    env.billing.refunds.alipay = build_client(dataclasses.replace(good.settings, server_url="http://127.0.0.1:9/gateway.do", timeout_s=1))
    r = _refund(env, order.id, 150, "pending-1")
    assert (r.status_code, r.json()["status"]) == (202, "pending")
    assert _refund(env, order.id, 251, "other").status_code == 409  # the pending 150 counts against what is left
    env.billing.refunds.alipay = good
    env.clock.advance(seconds=61)
    assert env.work()["refunds_retried"] == 1
    after = env.order(order.id)
    assert (after.status, after.refunded_fen) == ("partially_refunded", 150)
    assert len(env.gw.gateway.ledger.refunds) == 1


def test_a_refund_notification_is_checked_against_what_was_refunded(billing_env, alipay_keys):
    """Alipay's refund_fee is everything refunded of the trade so far: a notification whose figure
    disagrees with the refunds we asked for is refused and changes nothing; the right one is recorded."""
    import uuid

    from billing.models import Refund
    from tests.billing_flow.test_notify import post, signed

    env = billing_env()
    _, order = _paid(env)
    (payment,) = env.payments(order.id)
    with env.platform.uow() as uow:  # a refund asked whose answer never came back
        uow.session.add(Refund(order_id=order.id, payment_id=payment.id, request_id="r1", out_request_no=f"RF-{uuid.uuid4().hex[:8]}",
                               amount_fen=150, reason="barrier fault", requested_by="alice", status="pending", created_at=env.clock()))
        uow.commit()
        out_request_no = uow.session.scalars(__import__("sqlalchemy").select(Refund.out_request_no)).one()
    fields = {"trade_no": payment.trade_no, "out_biz_no": out_request_no, "gmt_refund": "2026-11-23 10:00:00.000"}
    assert post(env, signed(env, alipay_keys, payment.out_trade_no, refund_fee="4.00", **fields)) == "failure"
    assert env.order(order.id).refunded_fen == 0
    assert post(env, signed(env, alipay_keys, payment.out_trade_no, refund_fee="1.50", **fields)) == "success"
    after = env.order(order.id)
    assert (after.refunded_fen, after.status) == (150, "partially_refunded")
