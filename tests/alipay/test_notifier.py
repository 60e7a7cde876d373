"""Notification delivery: Alipay's 8-try schedule until the body is exactly `success`, and the faults it can be told to make."""
from __future__ import annotations

import time

from alipay_standin import RETRY_DELAYS_S, NotifyPolicy
from billing.alipay.client import trade_pay_withholding, trade_refund
from billing.alipay.notify import verify_notification
from tests.alipay.conftest import FAST


def _pay(gateway, client, out_trade_no="ORD-1", amount_fen=1250):
    agreement = gateway.sign_agreement(f"USER-{out_trade_no}")
    return trade_pay_withholding(client, out_trade_no=out_trade_no, amount_fen=amount_fen, subject="停车费",
                                 agreement_no=agreement.agreement_no)


def test_schedule_is_alipays_eight_tries_over_about_25_hours():
    assert len(RETRY_DELAYS_S) == 8 and RETRY_DELAYS_S[0] == 0
    assert list(RETRY_DELAYS_S[1:]) == [4 * 60, 10 * 60, 10 * 60, 3600, 2 * 3600, 6 * 3600, 15 * 3600]
    assert 24 * 3600 < sum(RETRY_DELAYS_S) < 25 * 3600


def test_retries_until_body_is_exactly_success_then_stops(gateway, client, receiver):
    receiver.answer("failure", "Success", "success\n")
    receiver.answer("oops", status=500)
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    forms = receiver.received()
    assert len(forms) == 5
    assert len({f["notify_id"] for f in forms}) == 1  # the same notification each time
    (delivery,) = gateway.deliveries()
    assert [a.outcome for a in delivery.attempts] == ["refused"] * 4 + ["acknowledged"]
    assert delivery.attempts[3].status_code == 500 and delivery.state == "acknowledged"
    time.sleep(0.3)
    assert len(receiver.received()) == 5


def test_gives_up_after_eight_tries(gateway, client, receiver):
    receiver.answer(*["failure"] * 20)
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    (delivery,) = gateway.deliveries()
    assert len(receiver.received()) == 8 and len(delivery.attempts) == 8 and delivery.state == "gave_up"


def test_retry_gaps_follow_the_scaled_schedule(gateway, client, receiver):
    gateway.set_notify_policy(NotifyPolicy(time_scale=1e-4))  # 4 min -> 24 ms, 10 min -> 60 ms
    receiver.answer("failure", "failure")
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    at = [a.at for a in gateway.deliveries()[0].attempts]
    gaps = [(b - a).total_seconds() for a, b in zip(at, at[1:])]
    assert gaps[0] >= 0.024 * 0.9 and gaps[1] >= 0.060 * 0.9


def test_dropped_tries_count_and_the_receiver_hears_later(gateway, client, receiver):
    gateway.set_notify_policy(NotifyPolicy(drop_first=3, time_scale=FAST.time_scale))
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    (delivery,) = gateway.deliveries()
    assert [a.outcome for a in delivery.attempts] == ["dropped"] * 3 + ["acknowledged"]
    assert len(receiver.received()) == 1


def test_never_delivered_when_every_try_is_lost(gateway, client, receiver):
    gateway.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=FAST.time_scale))
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    assert receiver.received() == [] and gateway.deliveries()[0].state == "gave_up"


def test_duplicates_resend_the_same_notification_after_success(gateway, client, receiver, alipay_keys):
    gateway.set_notify_policy(NotifyPolicy(duplicates=2, time_scale=FAST.time_scale))
    _pay(gateway, client)
    assert gateway.wait_idle(5)
    forms = receiver.received()
    assert len(forms) == 3 and all(f == forms[0] for f in forms)
    for form in forms:
        verify_notification(form, alipay_public_key_pem=alipay_keys.public_pem, app_id=gateway.app_id)


def test_delay_holds_back_the_first_try(gateway, client, receiver):
    gateway.set_notify_policy(NotifyPolicy(delay_s=0.3, time_scale=FAST.time_scale))
    started = time.monotonic()
    _pay(gateway, client)
    gateway.wait_for(lambda: receiver.received())
    assert time.monotonic() - started >= 0.3


def test_trade_finished_follows_success_for_the_same_trade(app_keys, alipay_keys, receiver):
    from alipay_standin import start_local_alipay
    from billing.alipay.client import build_client

    with start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=alipay_keys, notify_policy=FAST,
                            trade_finished_after_s=0.1) as gateway:
        client = build_client(gateway.client_settings(app_private_key_pem=app_keys.private_pem, notify_url=receiver.url))
        paid = _pay(gateway, client)
        forms = gateway.wait_for(lambda: len(receiver.received()) >= 2 and receiver.received())
        notes = {n.trade_status: n for n in (verify_notification(f, alipay_public_key_pem=alipay_keys.public_pem,
                                                                 app_id=gateway.app_id) for f in forms)}
        success, finished = notes["TRADE_SUCCESS"], notes["TRADE_FINISHED"]
        assert success.trade_no == finished.trade_no == paid.trade_no and success.notify_id != finished.notify_id
        assert finished.total_amount_fen == 1250  # the same money, not a second payment


def test_refunds_are_notified_with_cumulative_refund_fee(gateway, client, receiver, alipay_keys):
    _pay(gateway, client, amount_fen=1000)
    trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=300)
    trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-2", refund_amount_fen=700)
    trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-2", refund_amount_fen=700)  # repeat: no new notification
    assert gateway.wait_idle(5)
    notes = [verify_notification(f, alipay_public_key_pem=alipay_keys.public_pem, app_id=gateway.app_id) for f in receiver.received()]
    refunds = sorted((n for n in notes if n.is_refund), key=lambda n: n.refund_fee_fen)
    assert [(n.out_biz_no, n.refund_fee_fen, n.trade_status) for n in refunds] == [
        ("RF-1", 300, "TRADE_SUCCESS"), ("RF-2", 1000, "TRADE_CLOSED")]
    assert refunds[1].gmt_close is not None
