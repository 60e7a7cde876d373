"""The driver's billing API: own stays, orders and receipts only; paying an unpaid order by QR code."""
from __future__ import annotations

from datetime import timedelta

from tests.factories import passage_msg


def test_drivers_see_only_their_own_orders(billing_env):
    env = billing_env()
    alice, bob = env.driver("苏E11111", agreement=False), env.driver("苏E22222", agreement=False)
    mine = env.stay("苏E11111", minutes=150)
    theirs = env.stay("苏E22222", minutes=150)
    listed = env.api.get("/v1/me/orders", headers=alice.headers).json()["orders"]
    assert [(o["id"], o["status"], o["amount_fen"], o["owed_fen"], o["lot_name"]) for o in listed] == [
        (mine.id, "unpaid", 400, 400, "Mall car park")]
    assert env.api.get(f"/v1/me/orders/{mine.id}", headers=alice.headers).status_code == 200
    theirs_read = env.api.get(f"/v1/me/orders/{theirs.id}", headers=alice.headers)
    assert (theirs_read.status_code, theirs_read.json()["code"]) == (404, "order_not_found")  # as if it did not exist: no leak
    missing = env.api.get("/v1/me/orders/nope", headers=alice.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "order_not_found")
    assert env.api.post(f"/v1/me/orders/{theirs.id}/pay", headers=alice.headers).status_code == 404
    assert env.api.get("/v1/me/orders").status_code == 401
    assert env.api.get("/v1/me/orders", params={"status": "paid"}, headers=alice.headers).json()["orders"] == []
    assert env.api.get("/v1/me/orders", params={"status": "bogus"}, headers=alice.headers).status_code == 422
    assert [o["id"] for o in env.api.get("/v1/me/orders", headers=bob.headers).json()["orders"]] == [theirs.id]


def test_my_sessions_are_my_plates_stays_since_i_bound_them(billing_env):
    env = billing_env()
    before = env.stay("苏E11111", minutes=150, start=env.clock() - timedelta(days=3))  # before anyone held the plate
    alice = env.driver("苏E11111")  # verified: its unpaid order moved to her (tests/plates_ownership), so she sees it
    env.clock.advance(hours=3)
    closed = env.stay("苏E11111", minutes=150)
    env.platform.pipeline.process([passage_msg("G1", "in1", "open-1", "in", "苏E11111", env.clock() - timedelta(minutes=5))])
    env.driver("苏E22222")
    env.stay("苏E22222", minutes=150)
    got = env.api.get("/v1/me/sessions", headers=alice.headers).json()["sessions"]
    assert [(s["status"], s["plate"], s["order"] and s["order"]["id"]) for s in got] == [
        ("open", "苏E11111", None), ("closed", "苏E11111", closed.id), ("closed", "苏E11111", before.id)]


def test_paying_an_unpaid_order_by_qr_code_and_getting_the_receipt(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    env.work()
    r = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers)
    assert r.status_code == 200, r.text
    qr = r.json()
    assert (qr["amount_fen"], qr["order_id"]) == (400, order.id) and qr["qr_code"].startswith(env.gw.base_url)
    assert env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers).json() == qr  # the same code again
    assert env.work()["charged"] == 0  # the worker leaves it to the QR code
    env.gw.pay_precreated(qr["out_trade_no"])
    env.wait_status(order.id, "paid")
    detail = env.api.get(f"/v1/me/orders/{order.id}", headers=driver.headers).json()
    assert (detail["status"], detail["paid_fen"], detail["owed_fen"]) == ("paid", 400, 0)
    assert [(p["out_trade_no"], p["amount_fen"]) for p in detail["payments"]] == [(qr["out_trade_no"], 400)]
    (receipt,) = env.api.get("/v1/me/receipts", headers=driver.headers).json()["receipts"]
    assert receipt["id"] == order.id and receipt["tariff_id"] == "suzhou-offstreet"
    assert sum(line["fen"] for line in receipt["lines"]) == receipt["amount_fen"] == 400
    again = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers)
    assert (again.status_code, again.json()["field"]) == (409, "status")


def test_a_paying_order_cannot_also_be_paid_by_qr(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345")
    from alipay_standin import ChargeRule

    env.gw.add_charge_rule(ChargeRule("processing", settle_after_s=30))
    order = env.stay("苏E12345", minutes=150)
    env.billing.worker.run_once()
    r = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers)
    assert r.status_code == 409 and "charge is in progress" in r.json()["message"]


def test_an_unpaid_order_of_nobody_is_payable_by_whoever_holds_the_plate_now(billing_env):
    env = billing_env()
    order = env.stay("苏E33333", minutes=150)
    assert order.account_id is None
    driver = env.driver("苏E33333", agreement=False)
    assert [o["id"] for o in env.api.get("/v1/me/orders", headers=driver.headers).json()["orders"]] == [order.id]
    r = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers)
    assert r.status_code == 200
    assert env.order(order.id).account_id == driver.account_id


def test_a_qr_code_lapses_after_two_hours_and_a_new_one_is_given(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    first = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers).json()
    env.clock.advance(hours=1)
    assert env.work()["queried"] == 0  # not asked about while it may still be scanned
    assert env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers).json() == first
    env.clock.advance(hours=1, seconds=1)
    second = env.api.post(f"/v1/me/orders/{order.id}/pay", headers=driver.headers).json()
    assert second["out_trade_no"] != first["out_trade_no"]
    env.gw.pay_precreated(first["out_trade_no"])  # the lapsed code is paid after all: the money is still recorded
    env.wait_status(order.id, "paid")
    assert [p.out_trade_no for p in env.payments(order.id)] == [first["out_trade_no"]]
