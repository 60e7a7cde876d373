"""Charging without waiting: the exit commits first; the worker charges through the agreement afterwards and
learns the outcome from the answer, the notification or a query; failures leave the order unpaid, and say so."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from alipay_standin import ChargeRule, NotifyPolicy
from billing.models import AlipayNotificationRecord, PaymentAttempt
from billing.service import build_billing


def _attempts(env, order_id):
    return env.billing.payments.attempts_of(order_id)


def test_the_exit_commits_before_any_charge_and_the_answer_settles_it(billing_env):
    env = billing_env()
    # the notification leaves a moment after the answer, so the answer settles it (else either may come first)
    env.gw.set_notify_policy(NotifyPolicy(delay_s=0.3))
    driver = env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)
    assert order.status == "unpaid" and env.gw.gateway.ledger.trades == {}  # the exit did not wait for Alipay
    assert env.work()["charged"] == 1
    paid = env.order(order.id)
    assert (paid.status, paid.paid_fen) == ("paid", 400)
    (payment,) = env.payments(order.id)
    assert (payment.out_trade_no, payment.amount_fen, payment.source) == (f"{order.id}-1", 400, "answer")
    trade = env.gw.gateway.ledger.trades[payment.out_trade_no]
    assert (trade.total_fen, trade.product_code, trade.agreement_no) == (400, "GENERAL_WITHHOLDING", env.accounts.account(driver.account_id).agreement_no)
    # Alipay's TRADE_SUCCESS notification arrived as well: recorded, no second payment
    with env.platform.uow() as uow:
        assert [n.trade_status for n in uow.session.scalars(select(AlipayNotificationRecord))] == ["TRADE_SUCCESS"]
    assert len(env.payments()) == 1
    assert [n.kind for n in env.notices.of(driver.account_id)] == ["order_paid"]


def test_a_processing_charge_is_paying_until_the_notification_settles_it(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    env.gw.add_charge_rule(ChargeRule("processing", settle_after_s=0.3))
    order = env.stay("苏E12345", minutes=150)
    env.billing.worker.run_once()
    assert env.order(order.id).status == "paying"
    env.wait_status(order.id, "paid")
    (payment,) = env.payments(order.id)
    assert payment.source == "notify"


def test_a_charge_pending_too_long_is_settled_by_a_query(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))  # the notification never reaches us
    env.gw.add_charge_rule(ChargeRule("processing", settle_after_s=0.0))
    order = env.stay("苏E12345", minutes=150)
    env.work()
    assert env.order(order.id).status == "paying"
    assert env.work()["queried"] == 0  # not yet due a query
    env.clock.advance(seconds=61)
    assert env.work()["queried"] == 1
    (payment,) = env.payments(order.id)
    assert (payment.source, env.order(order.id).status) == ("query", "paid")


def test_a_system_error_is_queried_not_retried_so_nothing_is_charged_twice(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))
    env.gw.add_charge_rule(ChargeRule("error_but_paid"))
    order = env.stay("苏E12345", minutes=150)
    env.work()
    assert env.order(order.id).status == "paying"
    env.clock.advance(seconds=61)
    env.work()
    assert env.order(order.id).status == "paid" and len(env.gw.gateway.ledger.trades) == 1
    assert [a.status for a in _attempts(env, order.id)] == ["paid"]


def test_a_refused_charge_leaves_the_order_unpaid_with_the_reason_and_tells_the_driver(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345")
    env.gw.fail_charges("ACQ.BUYER_BALANCE_NOT_ENOUGH")
    order = env.stay("苏E12345", minutes=150)
    env.work()
    after = env.order(order.id)
    assert (after.status, after.next_charge_at) == ("unpaid", None)
    assert "ACQ.BUYER_BALANCE_NOT_ENOUGH" in after.failure_reason
    (notice,) = env.notices.of(driver.account_id, "unpaid_order")
    assert notice.data["order_id"] == order.id and notice.data["amount_fen"] == 400
    assert env.work()["charged"] == 0  # not charged again behind the driver's back
    assert [a.status for a in _attempts(env, order.id)] == ["failed"]


def test_without_an_agreement_the_order_waits_unpaid_and_the_driver_is_told(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    env.work()
    after = env.order(order.id)
    assert (after.status, env.gw.gateway.ledger.trades) == ("unpaid", {})
    assert "agreement" in after.failure_reason
    assert [n.kind for n in env.notices.of(driver.account_id)] == ["unpaid_order"]


def test_a_restarted_worker_finds_its_work_in_the_database(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)
    claims = env.billing.worker._claim()  # moved to paying, then the process died before asking Alipay
    assert [c.order_id for c in claims] == [order.id] and env.order(order.id).status == "paying"
    env.billing = _another_process(env, alipay=env.billing.alipay)  # a new worker over the same database
    env.clock.advance(seconds=61)
    env.work()  # Alipay never heard of the attempt: it failed, and the order is due again
    assert [a.status for a in _attempts(env, order.id)] == ["failed"]
    assert env.order(order.id).status == "unpaid"
    env.work()
    assert env.order(order.id).status == "paid"
    assert [a.status for a in _attempts(env, order.id)] == ["failed", "paid"]
    assert len(env.payments(order.id)) == 1


def test_the_worker_thread_charges_as_soon_as_the_exit_commits(billing_env):
    env = billing_env(worker_thread=True)
    env.driver("苏E12345")
    started = time.monotonic()
    order = env.stay("苏E12345", minutes=150)
    env.wait_status(order.id, "paid", timeout_s=5)
    assert time.monotonic() - started < 2  # woken by the commit, not by the poll


def test_overdue_unpaid_orders_become_arrears_in_the_sweep(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    env.work()
    env.clock.advance(days=29)
    assert env.billing.worker.run_once()["arrears"] == 0
    env.clock.advance(days=2)
    assert env.billing.worker.run_once()["arrears"] == 1
    after = env.order(order.id)
    assert after.status == "arrears"
    assert [a.to_status for a in env.billing.orders.audit_of(order.id)] == ["arrears"]
    assert [n.kind for n in env.notices.of(driver.account_id)] == ["unpaid_order", "arrears"]


def test_without_alipay_orders_are_kept_and_nothing_is_charged(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    without = _another_process(env, alipay=None)
    order = env.stay("苏E12345", minutes=150)
    assert without.worker.run_once()["charged"] == 0
    assert env.order(order.id).status == "unpaid"
    with env.platform.uow() as uow:
        assert list(uow.session.scalars(select(PaymentAttempt))) == []


def _another_process(env, *, alipay):
    """Billing as another process over the same database would build it."""
    p = env.platform
    return build_billing(uow=p.uow, clock=p.clock, directory=p.directory, tariffs=p.tariffs, alipay=alipay,
                         notifier=env.notices, settings=env.billing.settings)


def test_the_sweep_takes_every_overdue_order_in_batches(billing_env):
    env = billing_env()
    env.billing.worker.batch = 2
    orders = [env.stay(f"苏E6{i:04d}", minutes=150) for i in range(5)]
    env.clock.advance(days=31)
    assert env.billing.worker.run_once()["arrears"] == 5
    assert {env.order(o.id).status for o in orders} == {"arrears"}


def test_the_payment_worker_is_woken_only_by_orders_to_charge(billing_env):
    """Street traffic (berth reports, passages of unregistered cars) gives the worker nothing to
    do and never wakes it; the exit of a car whose holder can be charged does."""
    from tests.factories import berth_msg

    env = billing_env()
    wake = env.billing.worker._wake
    wake.clear()
    now = env.clock()
    for i in range(200):
        env.platform.pipeline.process([berth_msg("S1", f"b{i % 4 + 1}", i % 2 == 0, i + 1, now - timedelta(seconds=300 - i))])
    env.stay("苏E99999")  # nobody holds this plate: an unpaid order, nothing to charge
    assert not wake.is_set()
    driver = env.driver("苏E12345")
    env.stay(driver.plate)
    assert wake.is_set()


def test_a_misread_exit_is_charged_only_after_a_person_confirms_the_match(billing_env):
    """An exit read one character off matches the one car inside whose plate is that close; its
    holder is not charged on that guess: the order waits for a person to confirm the stay."""
    from tests.factories import passage_msg

    env = billing_env()
    driver = env.driver("苏E12345")
    start = env.clock() - timedelta(minutes=150)
    env.platform.pipeline.process([passage_msg("G1", "in1", "m-in", "in", driver.plate, start)])
    env.platform.pipeline.process([passage_msg("G1", "out1", "m-out", "out", "苏E12845", env.clock())])  # one character off
    (order,) = env.orders()
    assert order.status == "unpaid" and order.review.startswith("not charged until the stay is confirmed")
    assert env.work()["charged"] == 0
    with env.platform.uow() as uow:
        env.platform.stays.correct(uow, order.session_id, field="plate", value=driver.plate, actor="op:alice",
                                      reason="exit camera misread 3 as 8; confirmed on the entry photo")
        uow.commit()
    assert env.order(order.id).review is None
    assert env.work()["charged"] == 1


def test_a_charge_lost_on_the_way_is_cancelled_before_the_next_so_a_late_arrival_never_charges_twice(billing_env):
    """The first pay request is lost (a system error, no trade at Alipay) and reaches Alipay later.
    The query finds no trade; before charging again under a new number the worker cancels the old
    one, so when the lost request arrives Alipay refuses it: the driver pays once."""
    env = billing_env()
    env.driver("苏E12345")
    env.gw.add_charge_rule(ChargeRule("late", settle_after_s=3.0))
    order = env.stay("苏E12345", minutes=150)
    worker = env.billing.worker
    worker.run_once()  # the request is lost: outcome unknown
    assert env.order(order.id).status == "paying"
    env.clock.advance(seconds=61)
    worker.run_once()  # query: no such trade -> cancel its number -> charge again under a new one
    worker.run_once()
    env.gw.wait_idle(10)  # the lost request arrives now, and the new charge's notification
    env.work()
    assert env.order(order.id).status == "paid"
    assert len(env.payments(order.id)) == 1
    ledger = env.gw.gateway.ledger
    paid = [t for t in ledger.trades.values() if t.status in ("TRADE_SUCCESS", "TRADE_FINISHED")]
    assert len(paid) == 1  # Alipay took the money once
    assert len(ledger.cancelled) == 1 and next(iter(ledger.cancelled)) not in ledger.trades


def test_a_pay_answer_for_another_amount_is_not_recorded_as_paid(billing_env, monkeypatch):
    """Alipay's synchronous answer is checked like its notifications: an amount other than the one
    asked is flagged for a person, never recorded as the order paid."""
    import dataclasses

    import billing.payment_worker as worker_module

    env = billing_env()
    env.driver("苏E12345")
    real = worker_module.trade_pay_withholding
    monkeypatch.setattr(worker_module, "trade_pay_withholding",
                        lambda *a, **kw: dataclasses.replace(real(*a, **kw), total_amount_fen=kw["amount_fen"] + 100))
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))  # only the answer speaks
    order = env.stay("苏E12345", minutes=150)
    env.billing.worker.run_once()
    after = env.order(order.id)
    assert after.status == "paying" and "we asked 400 fen" in after.review
    assert env.payments(order.id) == []
