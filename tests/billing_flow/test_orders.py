"""Orders: one per closed stay, priced by the lot's tariff in the exit's own transaction, with a state machine."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from billing.models import PaymentAttempt
from billing.orders import TRANSITIONS, InvalidTransition, check_transition
from billing.service import load_billing_settings
from parking_core.errors import ConfigError
from parking_core.session_models import ParkingSession
from tests.billing_flow.conftest import OPERATOR
from tests.factories import city_registry, feature, passage_msg, registry

STATES = ("unpaid", "paying", "paid", "arrears", "refunded", "partially_refunded", "void")


def test_exit_creates_one_priced_order_in_the_same_transaction(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)  # 30 free minutes kept, then 2 started hours at 2 CNY
    assert (order.status, order.amount_fen, order.paid_fen) == ("unpaid", 400, 0)
    assert (order.tariff_id, order.tariff_version, order.account_id, order.operator_id) == ("suzhou-offstreet", 1, driver.account_id, "op2")
    assert order.due_at == env.clock() + timedelta(days=30)
    assert order.next_charge_at == env.clock()
    assert sum(line["fen"] for line in order.breakdown) == 400
    with env.platform.uow() as uow:
        stay = uow.session.get(ParkingSession, order.session_id)
        assert (stay.status, stay.exited_at) == ("closed", order.exited_at)
    # the exit re-delivered: still one order
    env.platform.pipeline.process([passage_msg("G1", "out1", "again", "out", "苏E12345", order.exited_at)])
    assert len(env.orders()) == 1


def test_a_free_stay_is_paid_at_once_without_a_payment(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=20)
    assert (order.status, order.amount_fen, order.paid_at) == ("paid", 0, env.clock())
    assert env.work()["charged"] == 0 and env.payments() == []


def test_vehicle_class_and_new_energy_come_from_the_session(billing_env):
    env = billing_env()
    large = env.stay("苏E99999", minutes=150, color="yellow")
    nev = env.stay("苏EF12345", minutes=150, color="green")
    assert (large.vehicle, large.amount_fen) == ("large", 800)
    assert (nev.new_energy, nev.amount_fen) == (True, 200)


def test_a_lot_without_tariff_charges_nothing(billing_env):
    env = billing_env()
    order = env.stay("苏E12345", lot="C1", minutes=300, start=env.clock() - timedelta(hours=10))
    assert (order.status, order.amount_fen, order.tariff_id) == ("paid", 0, None)


def test_no_plate_holder_means_no_account_and_no_charge(billing_env):
    env = billing_env()
    order = env.stay("苏E55555", minutes=150)
    assert (order.account_id, order.next_charge_at, order.status) == (None, None, "unpaid")
    assert "no account" in order.failure_reason


def test_monthly_pass_covers_stays_inside_its_days_only(billing_env):
    env = billing_env()
    day = env.clock().date()
    r = env.api.post("/v1/operator/passes", headers=OPERATOR, json={
        "plate": "苏e 12345", "lot_id": "G1", "valid_from": str(day - timedelta(days=3)), "valid_to": str(day), "note": "Nov"})
    assert r.status_code == 201, r.text
    assert r.json()["plate"] == "苏E12345" and r.json()["created_by"] == "city"
    covered = env.stay("苏E12345", minutes=150)
    assert (covered.amount_fen, covered.pass_covered, covered.status) == (0, True, "paid")
    assert [line["label"] for line in covered.breakdown] == ["monthly pass"]
    before = env.stay("苏E12345", minutes=150, start=env.clock() - timedelta(days=5))
    assert (before.amount_fen, before.pass_covered) == (400, False)
    elsewhere = env.api.post("/v1/operator/passes", headers=OPERATOR, json={
        "plate": "苏E12345", "lot_id": "nope", "valid_from": str(day), "valid_to": str(day)})
    backwards = env.api.post("/v1/operator/passes", headers=OPERATOR, json={
        "plate": "苏E12345", "lot_id": "G1", "valid_from": str(day), "valid_to": str(day - timedelta(days=1))})
    assert (elsewhere.status_code, elsewhere.json()["field"]) == (404, "lot_id")
    assert (backwards.status_code, backwards.json()["field"]) == (422, "valid_to")
    assert env.api.post("/v1/operator/passes", json={"plate": "苏E1", "lot_id": "G1", "valid_from": str(day), "valid_to": str(day)}).status_code == 401
    listed = env.api.get("/v1/operator/passes", params={"plate": "苏E12345"}, headers=OPERATOR).json()["passes"]
    assert [(p["lot_id"], p["note"]) for p in listed] == [("G1", "Nov")]


def test_an_unknown_tariff_never_loses_the_exit(billing_env):
    """The import refuses unknown tariffs; this is a tariff dropped from PARKING_TARIFFS after the import."""
    from parking_core.registry import parse_registry, save_registry

    env = billing_env()
    with env.platform.uow() as uow:
        save_registry(uow.session, parse_registry(registry(*city_registry()["features"], feature("X1", tariff="no-such-tariff"))))
        uow.commit()
    env.platform.reload_directory()
    order = env.stay("苏E12345", lot="X1", minutes=150)
    with env.platform.uow() as uow:
        assert uow.session.get(ParkingSession, order.session_id).status == "closed"
    assert (order.status, order.amount_fen, order.next_charge_at) == ("unpaid", 0, None)
    assert "no-such-tariff" in order.review
    env.billing.worker.run_once()  # not swept into arrears, never charged
    assert env.order(order.id).status == "unpaid"


@pytest.mark.parametrize("old", STATES)
@pytest.mark.parametrize("new", STATES)
def test_one_function_decides_every_transition(old, new):
    allowed = {("unpaid", "paying"), ("unpaid", "paid"), ("unpaid", "arrears"), ("unpaid", "void"), ("paying", "paid"),
               ("paying", "unpaid"), ("arrears", "paying"), ("arrears", "paid"), ("arrears", "void"),
               ("paid", "partially_refunded"), ("paid", "refunded"), ("partially_refunded", "refunded")}
    assert set(TRANSITIONS) == set(STATES)
    if (old, new) in allowed:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidTransition) as err:
            check_transition(old, new)
        assert err.value.field == "status" and err.value.value == new and old in err.value.message


def test_due_days_come_from_the_environment_and_a_bad_value_is_named(monkeypatch, billing_env):
    monkeypatch.setenv("PARKING_PAYMENT_DUE_DAYS", "7")
    assert load_billing_settings().due_days == 7
    env = billing_env(settings=load_billing_settings())
    assert env.stay("苏E12345").due_at == env.clock() + timedelta(days=7)
    monkeypatch.setenv("PARKING_PAYMENT_DUE_DAYS", "0")
    with pytest.raises(ConfigError) as err:
        load_billing_settings()
    assert err.value.field == "PARKING_PAYMENT_DUE_DAYS" and "PARKING_PAYMENT_DUE_DAYS='0'" in err.value.message


def _correct(env, order, field, value):
    with env.platform.uow() as uow:
        env.platform.stays.correct(uow, order.session_id, field=field, value=value, actor="op:bob", reason="gate clock off")
        uow.commit()


def test_a_correction_reprices_an_unpaid_order_with_an_audit_line(billing_env):
    env = billing_env()
    env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    _correct(env, order, "entered_at", (order.exited_at - timedelta(minutes=300)).isoformat())
    after = env.order(order.id)
    assert (after.amount_fen, after.status, after.entered_at) == (1000, "unpaid", order.exited_at - timedelta(minutes=300))
    (line,) = env.billing.orders.audit_of(order.id)
    assert (line.action, line.old_amount_fen, line.new_amount_fen) == ("recompute", 400, 1000)
    _correct(env, order, "entered_at", (order.exited_at - timedelta(minutes=10)).isoformat())
    assert (env.order(order.id).amount_fen, env.order(order.id).status) == (0, "paid")


def test_a_correction_after_payment_keeps_the_order_and_flags_a_refund_decision(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
    _correct(env, order, "entered_at", (order.exited_at - timedelta(minutes=60)).isoformat())
    after = env.order(order.id)
    assert (after.status, after.amount_fen, after.paid_fen, after.review_amount_fen) == ("paid", 400, 400, 200)
    assert "decide a refund" in after.review
    flagged = env.api.get("/v1/operator/orders", params={"review": "true"}, headers=OPERATOR).json()["orders"]
    assert [(o["id"], o["review_amount_fen"]) for o in flagged] == [(order.id, 200)]


def test_operator_voids_an_unpaid_order_but_not_a_paid_one(billing_env):
    env = billing_env()
    env.driver("苏E12345")
    unpaid = env.stay("苏E77777", minutes=150)
    r = env.api.post(f"/v1/operator/orders/{unpaid.id}/void", headers=OPERATOR, json={"reason": "misread plate, CCTV checked"})
    assert (r.status_code, r.json()["status"]) == (200, "void")
    paid = env.stay("苏E12345", minutes=150)
    env.work()
    r = env.api.post(f"/v1/operator/orders/{paid.id}/void", headers=OPERATOR, json={"reason": "x"})
    assert (r.status_code, r.json()["field"]) == (409, "status")
    with env.platform.uow() as uow:
        attempts = list(uow.session.scalars(select(PaymentAttempt.order_id)))
    assert unpaid.id not in attempts
