"""One concurrency test per money path, on real PostgreSQL: two exits of one stay make one order, notifications
arriving together make one payment, and two workers never charge one order twice."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from billing.models import Order, PaymentAttempt
from billing.payment_worker import PaymentWorker
from parking_core.events import PassageReported
from parking_core.session_models import ParkingSession
from tests.billing_flow.test_notify import signed
from tests.factories import passage_msg

pytestmark = pytest.mark.parametrize("backend_env", ["servers"], indirect=True)


def _together(n, fn):
    """Run fn(i) for i in range(n) in threads released at the same instant; their results."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_two_exits_of_one_stay_at_once_make_one_order(billing_env):
    env = billing_env()
    plates = [f"苏E1000{i}" for i in range(6)]
    entered = env.clock() - timedelta(hours=3)
    for i, plate in enumerate(plates):
        env.platform.pipeline.process([passage_msg("G1", "in1", f"in-{i}", "in", plate, entered)])
    for i, plate in enumerate(plates):
        exits = [PassageReported("G1", f"out{k}", f"out-{i}-{k}", "out", plate, entered + timedelta(hours=2, minutes=5 * k))
                 for k in range(2)]
        _together(2, lambda k: env.platform.record_stays([exits[k]]))
    with env.platform.uow() as uow:
        db = uow.session
        closed = db.scalar(select(func.count()).select_from(ParkingSession).where(ParkingSession.status == "closed"))
        orders = db.execute(select(Order.plate, func.count()).group_by(Order.plate)).all()
    assert closed == len(plates)
    assert sorted(orders) == [(p, 1) for p in sorted(plates)]


def test_notifications_arriving_together_record_one_payment(billing_env, alipay_keys):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    out_trade_no = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers).json()["out_trade_no"]
    success = signed(env, alipay_keys, out_trade_no)
    finished = signed(env, alipay_keys, out_trade_no, trade_status="TRADE_FINISHED")
    forms = [success, finished] * 4

    def post(i):
        with httpx.Client(timeout=30) as http:
            return http.post(f"{env.served.url}/v1/payments/alipay/notify", data=forms[i]).text

    assert _together(len(forms), post) == ["success"] * len(forms)  # the order's row lock queues them; each finds the last
    (payment,) = env.payments()
    after = env.order(order.id)
    assert (payment.amount_fen, after.paid_fen, after.status) == (400, 400, "paid")
    assert [post(i) for i in range(len(forms))] == ["success"] * len(forms)  # Alipay's retries: all recorded already
    assert len(env.payments()) == 1


def test_two_workers_never_charge_one_order_twice(billing_env):
    env = billing_env()
    for i in range(12):
        env.driver(f"苏E3{i:04d}")
    orders = [env.stay(f"苏E3{i:04d}", minutes=150) for i in range(12)]
    workers = [PaymentWorker(uow=env.platform.uow, clock=env.clock, alipay=env.billing.alipay, refunds=env.billing.refunds,
                             batch=3) for _ in range(2)]
    _together(2, lambda i: workers[i].run_once(sweep=False))
    with env.platform.uow() as uow:
        attempts = uow.session.execute(select(PaymentAttempt.order_id, func.count()).group_by(PaymentAttempt.order_id)).all()
    assert sorted(attempts) == sorted((o.id, 1) for o in orders)
    assert len(env.gw.gateway.ledger.trades) == 12
    assert {env.order(o.id).status for o in orders} == {"paid"}
