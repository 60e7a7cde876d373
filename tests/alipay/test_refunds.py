"""Refunds: partial and full, idempotent by out_request_no, never more than was paid."""
from __future__ import annotations

import pytest

from billing.alipay.client import AlipayRefused, AlipayTradeNotFound, trade_pay_withholding, trade_query, trade_refund


@pytest.fixture
def paid(gateway, client):
    agreement = gateway.sign_agreement("USER-1")
    return trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=1000, subject="停车费", agreement_no=agreement.agreement_no)


def test_partial_then_full_refund_closes_the_trade(client, paid):
    first = trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=250, reason="多收")
    assert (first.refund_fee_fen, first.fund_change, first.trade_no) == (250, True, paid.trade_no)
    assert trade_query(client, out_trade_no="ORD-1").trade_status == "TRADE_SUCCESS"
    rest = trade_refund(client, trade_no=paid.trade_no, out_request_no="RF-2", refund_amount_fen=750)
    assert (rest.refund_fee_fen, rest.fund_change) == (1000, True)
    assert trade_query(client, out_trade_no="ORD-1").trade_status == "TRADE_CLOSED"


def test_same_out_request_no_refunds_once(gateway, client, paid):
    results = [trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=400) for _ in range(3)]
    assert [r.fund_change for r in results] == [True, False, False]
    assert {r.refund_fee_fen for r in results} == {400}
    assert gateway.gateway.ledger.trades["ORD-1"].refunded_fen == 400


def test_same_out_request_no_with_another_amount_is_refused(client, paid):
    trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=400)
    with pytest.raises(AlipayRefused) as refused:
        trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=500)
    assert refused.value.sub_code == "ACQ.DISCORDANT_REPEAT_REQUEST"


def test_refund_beyond_what_was_paid_is_refused(client, paid):
    trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=900)
    with pytest.raises(AlipayRefused) as refused:
        trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-2", refund_amount_fen=101)
    assert refused.value.sub_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


def test_refund_of_unknown_unpaid_or_finished_trade_is_refused(gateway, client, paid):
    with pytest.raises(AlipayTradeNotFound):
        trade_refund(client, out_trade_no="NOPE", out_request_no="RF-1", refund_amount_fen=1)
    gateway.finish_trade("ORD-1")
    with pytest.raises(AlipayRefused) as finished:
        trade_refund(client, out_trade_no="ORD-1", out_request_no="RF-1", refund_amount_fen=1)
    assert finished.value.sub_code == "ACQ.TRADE_HAS_FINISHED"
