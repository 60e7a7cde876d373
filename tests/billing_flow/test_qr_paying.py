"""An order whose QR code was issued and awaits the scan is `paying` (contract §5), as the driver sees
it in the app; it is `unpaid` again when Alipay closes the trade or the code lapses unscanned."""
from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def billing_env(billing_env):
    """The billing env, with drivers' access tokens that outlive the hours these tests move the clock on."""
    def build(**kw):
        env = billing_env(**kw)
        env.accounts.token_ttl = timedelta(days=1)
        return env

    return build


def _status(env, driver, order_id: str) -> str:
    return env.api.get(f"/v1/me/orders/{order_id}", headers=driver.headers).json()["status"]


def _pay(env, driver, order_id: str):
    return env.api.post(f"/v1/me/orders/{order_id}/pay", headers=driver.headers)


def test_an_issued_qr_code_makes_the_order_paying_until_it_is_paid(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    assert _status(env, driver, order.id) == "unpaid"
    qr = _pay(env, driver, order.id).json()
    assert _status(env, driver, order.id) == "paying"
    assert [o["status"] for o in env.api.get("/v1/me/orders", headers=driver.headers).json()["orders"]] == ["paying"]
    assert _pay(env, driver, order.id).json() == qr  # asking again while it waits: the same code
    assert env.work()["charged"] == 0
    env.gw.pay_precreated(qr["out_trade_no"])
    env.wait_status(order.id, "paid")


def test_a_closed_qr_trade_puts_the_order_back_to_unpaid(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    qr = _pay(env, driver, order.id).json()
    env.gw.gateway.ledger.find_trade(out_trade_no=qr["out_trade_no"]).status = "TRADE_CLOSED"  # Alipay closed it unpaid
    env.clock.advance(hours=2, seconds=1)
    assert env.work()["queried"] == 1
    assert _status(env, driver, order.id) == "unpaid"
    again = _pay(env, driver, order.id).json()
    assert again["out_trade_no"] != qr["out_trade_no"] and _status(env, driver, order.id) == "paying"


def test_a_lapsed_qr_code_puts_the_order_back_to_unpaid_and_a_new_one_makes_it_paying(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    first = _pay(env, driver, order.id).json()
    env.clock.advance(hours=2, seconds=1)
    env.work()  # Alipay still says WAIT_BUYER_PAY for a code nobody scanned in time
    assert _status(env, driver, order.id) == "unpaid"
    second = _pay(env, driver, order.id).json()
    assert second["out_trade_no"] != first["out_trade_no"] and _status(env, driver, order.id) == "paying"
    env.gw.pay_precreated(second["out_trade_no"])
    env.wait_status(order.id, "paid")


def test_a_new_code_after_a_lapse_keeps_the_order_paying_when_the_old_trade_is_closed(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    first = _pay(env, driver, order.id).json()
    env.clock.advance(hours=2, seconds=1)
    second = _pay(env, driver, order.id).json()  # before the worker noticed the lapse
    assert second["out_trade_no"] != first["out_trade_no"]
    env.work()  # the first code's trade lapses; the second still waits for its scan
    assert _status(env, driver, order.id) == "paying"
