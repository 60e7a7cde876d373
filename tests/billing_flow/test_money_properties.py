"""Every fen accounted for: whatever refunds operators ask for (too much, repeated, reused ids), what the order
says was refunded is what the refunds say, what Alipay refunded, never more than was paid, and its state agrees."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.refunds import RefundRefused
from parking_core.errors import Conflict

pytestmark = pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
_plates = itertools.count(1)
requests = st.lists(st.tuples(st.integers(min_value=1, max_value=450), st.sampled_from(["a", "b", "c", "d", "e"])),
                    min_size=1, max_size=6)


@pytest.fixture
def env(billing_env):
    return billing_env()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asks=requests)
def test_refunds_never_lose_or_invent_a_fen(env, asks):
    plate = f"苏K{next(_plates):05d}"
    env.driver(plate)
    order = env.stay(plate, minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
    for amount, request_id in asks:
        try:
            env.billing.refunds.refund(order.id, amount_fen=amount, reason="property", request_id=request_id, operator="prop")
        except (Conflict, RefundRefused):
            pass
    after = env.order(order.id)
    refunds = env.billing.refunds.of_order(order.id)
    succeeded = sum(r.amount_fen for r in refunds if r.status == "succeeded")
    (payment,) = env.payments(order.id)
    trade = env.gw.gateway.ledger.trades[payment.out_trade_no]
    assert after.refunded_fen == succeeded == trade.refunded_fen <= after.paid_fen == 400
    assert len({r.request_id for r in refunds}) == len(refunds)
    expected = "paid" if succeeded == 0 else "refunded" if succeeded == 400 else "partially_refunded"
    assert after.status == expected
