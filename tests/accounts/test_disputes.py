"""Plate disputes: a driver claims a plate another account holds; an operator grants or rejects, with an audit trail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from gateways.operator.permissions import load_operator_keys
from parking_core.account_models import PlateBinding
from parking_core.accounts import AccountSettings, DisputeClosed, DisputeNotFound, PlateLimitReached, owner_of
from parking_core.errors import ConfigError, Conflict, InvalidInput
from tests.accounts.conftest import OPERATOR, sign_in


@pytest.fixture
def held(env):
    """(holder, claimant): the holder has 苏E12345 bound."""
    holder, claimant = env.sign_up(), env.sign_up()
    env.accounts.bind_plate(holder, "苏E12345")
    return holder, claimant


def bindings(env, plate="苏E12345"):
    with env.uow() as uow:
        return [(b.account_id, b.unbound_at is None, b.unbound_reason) for b in uow.session.scalars(
            select(PlateBinding).where(PlateBinding.plate == plate).order_by(PlateBinding.bound_at))]


def test_opening_a_dispute_tells_the_holder_and_repeating_it_returns_the_same(env, held):
    holder, claimant = held
    dispute, created = env.accounts.open_dispute(claimant, "苏e 12345", reason="my car", evidence="licence 320501")
    assert created and (dispute.plate, dispute.status, dispute.holder_account_id) == ("苏E12345", "open", holder)
    again, created = env.accounts.open_dispute(claimant, "苏E12345", reason="still my car")
    assert not created and again.id == dispute.id and again.reason == "my car"
    assert [(n.kind, n.data["dispute_id"]) for n in env.notifier.of(holder) if n.kind != "plate_bound"] == [("plate_disputed", dispute.id)]
    assert [d.id for d in env.accounts.disputes_of(claimant)] == [dispute.id] and env.accounts.disputes_of(holder) == []


def test_no_dispute_over_a_free_plate_or_your_own(env, held):
    holder, claimant = held
    with pytest.raises(Conflict) as err:
        env.accounts.open_dispute(claimant, "苏E99999", reason="mine")
    assert err.value.details["reason_code"] == "plate_free"
    with pytest.raises(Conflict) as err:
        env.accounts.open_dispute(holder, "苏E12345", reason="mine")
    assert err.value.details["reason_code"] == "plate_bound_to_you"
    with pytest.raises(InvalidInput) as err:
        env.accounts.open_dispute(claimant, "苏E12345", reason="   ")
    assert err.value.field == "reason"
    assert env.accounts.disputes() == []


def test_granting_moves_the_plate_and_records_who_and_why(env, held):
    holder, claimant = held
    dispute, _ = env.accounts.open_dispute(claimant, "苏E12345", reason="my car", evidence="licence")
    env.clock.advance(hours=2)
    granted = env.accounts.grant_dispute(dispute.id, operator="alice", note="licence checked")
    assert (granted.status, granted.resolved_by, granted.resolution_note, granted.resolved_at) == (
        "granted", "alice", "licence checked", env.clock())
    assert bindings(env) == [(holder, False, f"dispute {dispute.id} granted to another account by alice"),
                             (claimant, True, None)]
    with env.uow() as uow:
        assert owner_of(uow.session, "苏E12345").id == claimant
    assert [n.kind for n in env.notifier.of(claimant)] == ["dispute_granted"]
    assert [n.kind for n in env.notifier.of(holder)] == ["plate_bound", "plate_disputed", "plate_unbound"]
    with pytest.raises(DisputeClosed):
        env.accounts.reject_dispute(dispute.id, operator="bob")


def test_rejecting_leaves_the_plate_where_it_is(env, held):
    holder, claimant = held
    dispute, _ = env.accounts.open_dispute(claimant, "苏E12345", reason="my car")
    rejected = env.accounts.reject_dispute(dispute.id, operator="alice", note="no evidence")
    assert (rejected.status, rejected.resolved_by) == ("rejected", "alice")
    assert bindings(env) == [(holder, True, None)]
    assert [(n.kind, n.data["note"]) for n in env.notifier.of(claimant)] == [("dispute_rejected", "no evidence")]
    with pytest.raises(DisputeClosed):
        env.accounts.grant_dispute(dispute.id, operator="alice")
    _, created = env.accounts.open_dispute(claimant, "苏E12345", reason="new evidence")
    assert created  # a decided claim does not block a new one


def test_granting_to_a_claimant_at_the_limit_changes_nothing(env, held):
    holder, claimant = held
    dispute, _ = env.accounts.open_dispute(claimant, "苏E12345", reason="my car")
    for plate in ("苏E11111", "苏E22222", "苏E33333"):
        env.accounts.bind_plate(claimant, plate)
    with pytest.raises(PlateLimitReached):
        env.accounts.grant_dispute(dispute.id, operator="alice")
    assert bindings(env) == [(holder, True, None)]
    assert [d.status for d in env.accounts.disputes()] == ["open"]


def test_granting_after_the_holder_let_go_just_binds_the_claimant(env, held):
    holder, claimant = held
    dispute, _ = env.accounts.open_dispute(claimant, "苏E12345", reason="my car")
    env.accounts.unbind_plate(holder, "苏E12345")
    env.accounts.grant_dispute(dispute.id, operator="alice")
    assert bindings(env) == [(holder, False, "unbound by the driver"), (claimant, True, None)]
    assert [n.data.get("dispute_id") for n in env.notifier.of(holder, "plate_unbound")] == [None]  # their own unbinding only


def test_unknown_dispute_is_not_found(env):
    with pytest.raises(DisputeNotFound) as err:
        env.accounts.grant_dispute("nope", operator="alice")
    assert err.value.http_status == 404 and err.value.field == "dispute_id"


def test_operator_queue_filters_by_status(env, held):
    holder, claimant = held
    other = env.sign_up()
    first, _ = env.accounts.open_dispute(claimant, "苏E12345", reason="mine")
    env.clock.advance(minutes=1)
    second, _ = env.accounts.open_dispute(other, "苏E12345", reason="no, mine")
    env.accounts.reject_dispute(first.id, operator="alice")
    assert [d.id for d in env.accounts.disputes()] == [first.id, second.id]
    assert [d.id for d in env.accounts.disputes("open")] == [second.id]


def test_operator_api_needs_an_operator_key(accounts_api):
    platform, env, client = accounts_api()
    driver = sign_in(client, env)
    for headers in ({}, {"X-Operator-Key": "k-" + "x" * 30}, driver, {"X-Operator-Key": driver["Authorization"]}):
        r = client.get("/v1/operator/disputes", headers=headers)
        assert r.status_code == 401 and r.json()["field"] == "X-Operator-Key", headers
    assert client.post("/v1/operator/disputes/x/grant", headers=driver).status_code == 401
    assert client.get("/v1/operator/disputes", headers=OPERATOR).json() == {"disputes": [], "next_offset": None}


def test_dispute_through_the_api_from_claim_to_grant(accounts_api):
    platform, env, client = accounts_api()
    holder, claimant = sign_in(client, env), sign_in(client, env)
    assert client.post("/v1/me/plates", json={"plate": "苏E12345"}, headers=holder).status_code == 201
    r = client.post("/v1/me/plates", json={"plate": "苏E12345"}, headers=claimant)
    assert r.status_code == 409 and r.json()["code"] == "plate_bound_elsewhere"
    r = client.post(r.json()["details"]["dispute"], json={"reason": "my car", "evidence": "licence"}, headers=claimant)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert "holder_account_id" not in mine and mine["status"] == "open"
    assert client.post("/v1/me/plates/苏E12345/dispute", json={"reason": "again"}, headers=claimant).status_code == 200
    assert client.get("/v1/me/disputes", headers=holder).json() == {"disputes": [], "next_cursor": None}
    queue = client.get("/v1/operator/disputes", params={"status": "open"}, headers=OPERATOR).json()["disputes"]
    assert [(d["id"], d["plate"], d["reason"]) for d in queue] == [(mine["id"], "苏E12345", "my car")]
    r = client.post(f"/v1/operator/disputes/{mine['id']}/grant", json={"note": "licence checked"}, headers=OPERATOR)
    assert r.status_code == 200 and (r.json()["status"], r.json()["resolved_by"]) == ("granted", "city")
    assert client.post(f"/v1/operator/disputes/{mine['id']}/reject", headers=OPERATOR).status_code == 409
    assert [p["plate"] for p in client.get("/v1/me/plates", headers=claimant).json()["plates"]] == ["苏E12345"]
    assert client.get("/v1/me/plates", headers=holder).json()["plates"] == []
    assert client.get("/v1/me/disputes", headers=claimant).json()["disputes"][0]["resolution_note"] == "licence checked"
    assert client.post("/v1/operator/disputes/unknown/grant", headers=OPERATOR).status_code == 404


def test_operator_keys_come_from_the_environment_or_a_generated_file(tmp_path):
    keys = load_operator_keys(AccountSettings(PARKING_OPERATOR_KEYS="alice:" + "a" * 20 + ", bob:" + "b" * 20), tmp_path)
    assert (keys.name_of("a" * 20), keys.name_of("b" * 20), keys.name_of("c" * 20)) == ("alice", "bob", None)
    assert not (tmp_path / "operator_keys").exists()
    generated = load_operator_keys(AccountSettings(), tmp_path)
    name, key = (tmp_path / "operator_keys").read_text().strip().split(":", 1)
    assert generated.name_of(key) == name == "city" and len(key) >= 16  # the city's admin key
    assert (tmp_path / "operator_keys").stat().st_mode & 0o777 == 0o600
    assert load_operator_keys(AccountSettings(), tmp_path) == generated  # the same key after a restart


@pytest.mark.parametrize("text", ["alice", "alice:short", "a b:" + "k" * 20, "alice:" + "k" * 20 + ",alice:" + "j" * 20])
def test_bad_operator_keys_stop_start_up_without_echoing_a_key(tmp_path, text):
    with pytest.raises(ConfigError) as err:
        load_operator_keys(AccountSettings(PARKING_OPERATOR_KEYS=text), tmp_path)
    assert err.value.field == "PARKING_OPERATOR_KEYS" and "k" * 20 not in err.value.message and "short" not in err.value.message
