"""POST /v1/payments/alipay/notify: `success` only once verified and recorded with its payment; `failure`,
changing nothing, for anything else."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from billing.alipay.signing import load_private_key, rsa2_sign, sign_content
from billing.models import AlipayNotificationRecord
from parking_core.db import UnitOfWork


@pytest.fixture
def qr(billing_env):
    """An env and an order (400 fen) `paying` by a QR trade that waits for the scan, whose notifications we forge or sign."""
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    r = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers)
    assert r.status_code == 200, r.text
    return env, order, r.json()["out_trade_no"]


def signed(env, keys, out_trade_no, **fields) -> dict[str, str]:
    form = {"notify_id": uuid.uuid4().hex, "notify_type": "trade_status_sync", "notify_time": "2026-11-23 20:00:05",
            "app_id": env.gw.app_id, "charset": "utf-8", "version": "1.0", "trade_no": "2026112322001000000000000042",
            "out_trade_no": out_trade_no, "trade_status": "TRADE_SUCCESS", "total_amount": "4.00", "receipt_amount": "4.00",
            "gmt_payment": "2026-11-23 20:00:03", "sign_type": "RSA2", **fields}
    form["sign"] = rsa2_sign(load_private_key(keys.private_pem), sign_content(form, drop=("sign", "sign_type")))
    return form


def post(env, form) -> str:
    r = env.api.post("/v1/payments/alipay/notify", data=form)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def notifications(env) -> int:
    with env.platform.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(AlipayNotificationRecord))


def test_a_verified_notification_records_the_payment(qr, alipay_keys):
    env, order, out_trade_no = qr
    assert post(env, signed(env, alipay_keys, out_trade_no)) == "success"
    after = env.order(order.id)
    assert (after.status, after.paid_fen) == ("paid", 400)
    (payment,) = env.payments(order.id)
    assert (payment.source, payment.trade_no, payment.paid_at.isoformat()) == ("notify", "2026112322001000000000000042", "2026-11-23T12:00:03+00:00")
    assert notifications(env) == 1


def test_the_same_notification_ten_times_and_trade_finished_record_one_payment(qr, alipay_keys):
    env, order, out_trade_no = qr
    form = signed(env, alipay_keys, out_trade_no)
    assert [post(env, form) for _ in range(10)] == ["success"] * 10
    assert post(env, signed(env, alipay_keys, out_trade_no, trade_status="TRADE_FINISHED")) == "success"
    assert len(env.payments()) == 1 and notifications(env) == 2
    assert env.order(order.id).paid_fen == 400


@pytest.mark.parametrize("tamper, why", [
    (lambda env, keys, no: {**signed(env, keys, no), "total_amount": "0.01"}, "bad signature"),
    (lambda env, keys, no: {k: v for k, v in signed(env, keys, no).items() if k != "sign"}, "no signature"),
    (lambda env, keys, no: signed(env, keys, "not-ours-1"), "unknown out_trade_no"),
    (lambda env, keys, no: signed(env, keys, no, total_amount="0.04", receipt_amount="0.04"), "wrong amount"),
    (lambda env, keys, no: signed(env, keys, no, app_id="2021000000000999"), "another app"),
    (lambda env, keys, no: signed(env, keys, no, notify_type="dut_user_sign"), "not a trade notification"),
    (lambda env, keys, no: {k: v for k, v in signed(env, keys, no).items() if k != "out_trade_no"}, "no out_trade_no"),
])
def test_anything_else_is_answered_failure_and_changes_nothing(qr, alipay_keys, tamper, why):
    env, order, out_trade_no = qr
    assert post(env, tamper(env, alipay_keys, out_trade_no)) == "failure", why
    assert (env.order(order.id).status, env.payments(), notifications(env)) == ("paying", [], 0)


def test_success_is_answered_only_after_the_commit(qr, alipay_keys, monkeypatch):
    env, order, out_trade_no = qr
    form = signed(env, alipay_keys, out_trade_no)
    real = UnitOfWork.commit

    def broken(self):
        raise OperationalError("COMMIT", {}, Exception("database went away"))

    monkeypatch.setattr(UnitOfWork, "commit", broken)
    assert post(env, form) == "failure"
    monkeypatch.setattr(UnitOfWork, "commit", real)
    assert (env.order(order.id).status, env.payments(), notifications(env)) == ("paying", [], 0)
    assert post(env, form) == "success"  # Alipay's retry, same notify_id
    assert len(env.payments(order.id)) == 1


def test_a_late_payment_for_a_voided_order_is_recorded_and_flagged_for_refund(qr, alipay_keys):
    env, order, out_trade_no = qr
    env.billing.orders.void(order.id, actor="op:bob", reason="wrong plate")
    assert post(env, signed(env, alipay_keys, out_trade_no)) == "success"
    after = env.order(order.id)
    assert (after.status, after.paid_fen) == ("void", 400) and "refund it" in after.review


def test_an_agreement_notification_sent_here_is_passed_to_accounts(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    env.gw.sign_agreement(driver.account_id, notify_url=f"{env.served.url}/v1/payments/alipay/notify")
    env.gw.wait_for(lambda: env.accounts.account(driver.account_id).agreement_status == "active")
    env.gw.wait_idle(5)
    assert [d.state for d in env.gw.deliveries()] == ["acknowledged"]


def test_a_notification_naming_another_seller_is_refused_and_changes_nothing(qr, alipay_keys):
    env, order, out_trade_no = qr
    assert post(env, signed(env, alipay_keys, out_trade_no, seller_id="2088999999999999")) == "failure"
    assert env.order(order.id).paid_fen == 0 and env.payments(order.id) == [] and notifications(env) == 0
    ours = env.gw.gateway.options.seller_id
    assert post(env, signed(env, alipay_keys, out_trade_no, seller_id=ours)) == "success"
