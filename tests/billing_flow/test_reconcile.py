"""Reconciliation against Alipay's daily bill (downloaded through the SDK from the local gateway) and
per-operator settlement, in fen."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from alipay_standin import NotifyPolicy
from billing.models import Payment, PaymentAttempt
from parking_core.clock import local
from tests.billing_flow.conftest import OPERATOR
from tests.factories import city_registry, feature, registry


def _city():
    return registry(*city_registry()["features"], feature("P1", operator="op1", tariff="suzhou-offstreet", lat=31.31, lon=120.61))


def _books(env):
    """Three paid orders (two at op2's G1, one at op1's P1) and a partial refund of 100 fen."""
    env.driver("苏E11111")
    env.driver("苏E22222")
    env.driver("苏E33333")
    a = env.stay("苏E11111", minutes=150)
    b = env.stay("苏E22222", minutes=150)
    c = env.stay("苏E33333", lot="P1", minutes=150)
    env.work()
    r = env.api.post(f"/v1/operator/orders/{a.id}/refund", headers=OPERATOR,
                     json={"amount_fen": 100, "reason": "barrier fault", "request_id": "r-1"})
    assert r.status_code == 201, r.text
    env.gw.wait_idle(5)
    return a, b, c, local(env.payments(a.id)[0].paid_at).date()


def test_a_day_whose_books_agree_with_the_bill(billing_env):
    env = billing_env(registry=_city())
    a, b, c, day = _books(env)
    report = env.billing.reconcile(day)
    assert report.balanced
    assert sorted((m.kind, m.ours_fen) for m in report.matched) == [("payment", 400)] * 3 + [("refund", 100)]
    assert report.alipay_net_fen == report.ours_net_fen == 400 * 3 - 100
    assert report.service_fee_fen < 0  # Alipay's fee, reported as it is, in fen
    body = env.api.get(f"/v1/operator/reconciliation/{day}", headers=OPERATOR).json()
    assert (body["balanced"], len(body["matched"]), body["ours_net_fen"]) == (True, 4, 1100)


def test_every_difference_is_named(billing_env):
    env = billing_env(registry=_city())
    a, b, c, day = _books(env)
    # paid at Alipay, never heard of here: a QR payment whose notifications are all lost
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))
    driver = env.driver("苏E44444", agreement=False)
    lost = env.stay("苏E44444", minutes=150)
    qr = env.api.post(f"/v1/me/orders/{lost.id}/pay", headers=driver.headers).json()
    env.gw.pay_precreated(qr["out_trade_no"])
    env.gw.wait_idle(5)
    with env.platform.uow() as uow:
        db = uow.session
        # recorded here, unknown to Alipay
        attempt = PaymentAttempt(order_id=b.id, out_trade_no=f"{b.id}-9", kind="qr", amount_fen=50, status="paid",
                                 queries=0, created_at=env.clock(), updated_at=env.clock())
        db.add(attempt)
        db.flush()
        paid_at = env.payments(a.id)[0].paid_at
        db.add(Payment(order_id=b.id, attempt_id=attempt.id, out_trade_no=attempt.out_trade_no, trade_no="T-ghost",
                       amount_fen=50, paid_at=paid_at, recorded_at=env.clock(), source="notify"))
        # an amount that differs
        db.execute(update(Payment).where(Payment.order_id == c.id).values(amount_fen=390))
        uow.commit()
    report = env.billing.reconcile(day)
    assert not report.balanced
    assert [(m.out_trade_no, m.ours_fen, m.alipay_fen) for m in report.missing_ours] == [(qr["out_trade_no"], None, 400)]
    assert [(m.out_trade_no, m.ours_fen, m.alipay_fen, m.order_id) for m in report.missing_alipay] == [(f"{b.id}-9", 50, None, b.id)]
    assert [(m.order_id, m.ours_fen, m.alipay_fen, m.note) for m in report.mismatched] == [(c.id, 390, 400, "differs by 10 fen")]
    assert len(report.matched) == 3


def test_a_bill_not_issued_yet_is_alipays_refusal(billing_env):
    env = billing_env()
    tomorrow = local(env.clock()).date() + timedelta(days=400)
    r = env.api.get(f"/v1/operator/reconciliation/{tomorrow}", headers=OPERATOR)
    assert (r.status_code, r.json()["code"], r.json()["value"]) == (404, "alipay_bill_not_found", "isp.bill_not_exist")
    assert env.api.get("/v1/operator/reconciliation/2026-13-01", headers=OPERATOR).status_code == 422


def test_settlement_is_each_operators_payments_less_refunds(billing_env):
    env = billing_env(registry=_city())
    a, b, c, day = _books(env)
    body = env.api.get(f"/v1/operator/settlement/{day}", headers=OPERATOR).json()
    assert body["operators"] == [
        {"operator_id": "op1", "payments": 1, "payments_fen": 400, "refunds": 0, "refunds_fen": 0, "net_fen": 400},
        {"operator_id": "op2", "payments": 2, "payments_fen": 800, "refunds": 1, "refunds_fen": 100, "net_fen": 700},
    ]
    one = env.api.get(f"/v1/operator/settlement/{day}", params={"operator_id": "op2"}, headers=OPERATOR).json()["operators"]
    assert [s["net_fen"] for s in one] == [700]
    other_day = env.api.get(f"/v1/operator/settlement/{day - timedelta(days=1)}", headers=OPERATOR).json()["operators"]
    assert other_day == []
