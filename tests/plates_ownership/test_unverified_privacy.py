"""A stranger who binds a plate without proving it is theirs sees what it owes (amount and day) and may pay it, but
never where or when the car was, and never the stay it is in now; its notices say amount and day only; and it is not
charged automatically (PARKING_WITHHOLD_UNVERIFIED, off by default)."""
from __future__ import annotations

from datetime import timedelta

from billing.service import BillingSettings
from tests.factories import passage_msg

PLATE = "苏E11111"
PLACE_OR_TIME = ("lot_id", "lot_name", "session_id", "entered_at", "exited_at", "due_at", "paid_at", "tariff_id")


def test_a_strangers_unverified_binding_shows_no_place_no_time_and_no_open_stay(owned):
    env, _ = owned
    before = env.stay(PLATE, minutes=150, start=env.clock() - timedelta(days=2))  # the owner's car, nobody holds the plate
    stranger = env.driver(PLATE, verified=False)
    env.clock.advance(hours=3)
    after = env.stay(PLATE, minutes=150)
    env.platform.pipeline.process([passage_msg("G1", "in1", "now-in", "in", PLATE, env.clock() - timedelta(minutes=5))])

    assert env.api.get("/v1/me/sessions", headers=stranger.headers).json()["sessions"] == []  # not even the open stay
    orders = env.api.get("/v1/me/orders", headers=stranger.headers).json()["orders"]
    assert {o["id"] for o in orders} == {before.id, after.id}
    for o in orders:
        assert o["details_hidden"] is True and o["owed_fen"] > 0 and o["day"]
        assert {k: o[k] for k in PLACE_OR_TIME} == dict.fromkeys(PLACE_OR_TIME)
    detail = env.api.get(f"/v1/me/orders/{after.id}", headers=stranger.headers).json()
    assert (detail["lot_id"], detail["exited_at"], detail["lines"]) == (None, None, [])
    assert env.api.get("/v1/me/plates", headers=stranger.headers).json()["plates"][0]["status"] == "unverified"

    # what it owes it may pay by hand
    assert env.api.post(f"/v1/me/orders/{after.id}/pay", headers=stranger.headers).status_code == 200


def test_notices_to_an_unverified_holder_say_amount_and_day_only_and_nothing_is_withheld(owned):
    env, _ = owned
    stranger = env.driver(PLATE, verified=False)  # with an active withholding agreement
    order = env.stay(PLATE, minutes=150)
    env.work()
    assert env.order(order.id).status == "unpaid"  # not charged: the plate is not proved theirs
    assert env.order(order.id).failure_reason == "plate not verified as yours: pay in the app"
    env.clock.advance(days=31)
    env.work()  # the sweep: in arrears now
    env.platform.pipeline.process([passage_msg("G1", "in1", "late-in", "in", PLATE, env.clock())])
    told = [n for n in env.notices.of(stranger.account_id) if n.kind in ("unpaid_order", "arrears", "arrears_at_entry")]
    assert [n.kind for n in told] == ["unpaid_order", "arrears", "arrears_at_entry"]
    for n in told:
        assert "G1" not in n.message and "G1" not in str(dict(n.data)) and "due_at" not in n.data
        assert "400" in n.message or "600" in n.message


def test_a_verified_owner_is_told_where_and_charged(owned):
    env, _ = owned
    owner = env.driver(PLATE)
    order = env.stay(PLATE, minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
    (paid,) = env.notices.of(owner.account_id, "order_paid")
    assert "G1" in paid.message
    (o,) = env.api.get("/v1/me/orders", headers=owner.headers).json()["orders"]
    assert (o["lot_id"], o["details_hidden"]) == ("G1", False)


def test_a_city_may_choose_to_withhold_from_unverified_holders(billing_env):
    env = billing_env(settings=BillingSettings(poll_s=0.2, query_after_s=60, withhold_unverified=True))
    env.driver(PLATE, verified=False)
    order = env.stay(PLATE, minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
