"""Plate disputes are decided by the operator of the car park where the plate last stayed, or the city;
tariffs are published by the city, or by an operator for its own car parks' tariffs and new ids it then owns."""
from __future__ import annotations

import itertools
import json

from billing.tariffs.catalog import BUNDLED

_phones = itertools.count(13_900_000_000)


def _driver(ops) -> str:
    phone = str(next(_phones))
    ops.platform.accounts.request_code(phone)
    return ops.platform.accounts.sign_in(phone, ops.platform.code_sender.last_code(phone)).account_id


def _dispute(ops, plate: str) -> str:
    holder, claimant = _driver(ops), _driver(ops)
    ops.platform.accounts.bind_plate(holder, plate)
    dispute, _ = ops.platform.accounts.open_dispute(claimant, plate, reason="my car")
    return dispute.id


def test_the_operator_where_the_plate_last_stayed_decides_its_dispute(ops):
    ops.stay("苏E12345", lot="S1", minutes=300)  # op1's street, earlier
    ops.platform.clock.advance(minutes=10)
    ops.stay("苏E12345", lot="G1", minutes=5)  # op2's car park, latest
    dispute = _dispute(ops, "苏E12345")
    seen = lambda who: [(d["id"], d["decided_by_operator"]) for d in ops.get(who, "/v1/operator/disputes").json()["disputes"]]  # noqa: E731
    assert seen("op1") == seen("op2") == seen("gusu") == [(dispute, "op2")]
    r = ops.post("op1", f"/v1/operator/disputes/{dispute}/grant", json={"note": "licence"})
    assert r.status_code == 403 and "op2" in r.json()["message"]
    assert ops.post("gusu", f"/v1/operator/disputes/{dispute}/grant").status_code == 403
    r = ops.post("op2", f"/v1/operator/disputes/{dispute}/grant", json={"note": "licence checked"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["resolved_by"]) == ("granted", "op2")
    (row,) = [e for e in ops.get("op2", "/v1/operator/audit", params={"action": "dispute.grant"}).json()["entries"]]
    assert (row["subject"], row["before"]["status"], row["after"]["status"]) == (f"dispute:{dispute}", "open", "granted")


def test_a_dispute_of_a_plate_never_seen_parking_is_the_citys(ops):
    dispute = _dispute(ops, "苏E99999")
    assert ops.get("op1", "/v1/operator/disputes").json()["disputes"] == []
    assert ops.post("op1", f"/v1/operator/disputes/{dispute}/reject").status_code == 403
    assert ops.post("op1", "/v1/operator/disputes/nope/reject").status_code == 404
    assert ops.post("city", f"/v1/operator/disputes/{dispute}/reject").json()["status"] == "rejected"


def _rules(tariff_id: str, version: int) -> dict:
    rules = json.loads((BUNDLED / "suzhou_offstreet.json").read_text())
    return {**rules, "id": tariff_id, "version": version}


def test_an_operator_publishes_only_its_own_car_parks_tariffs_and_new_ids(ops):
    ops.key("op1_admin2", org_kind="operator", org_id="op1", role="admin")
    ops.key("op2_admin", org_kind="operator", org_id="op2", role="admin")
    # suzhou-offstreet is G1's (op2)
    r = ops.post("op1_admin", "/v1/operator/tariffs", json={"rules": _rules("suzhou-offstreet", 2)})
    assert r.status_code == 403 and "other operators' car parks use it" in r.json()["message"]
    assert ops.post("op2", "/v1/operator/tariffs", json={"rules": _rules("suzhou-offstreet", 2)}).status_code == 403  # staff
    assert ops.post("op2_admin", "/v1/operator/tariffs", json={"rules": _rules("suzhou-offstreet", 2)}).status_code == 201
    # a new id: its first publisher owns it
    assert ops.post("op1_admin", "/v1/operator/tariffs", json={"rules": _rules("op1-evening", 1)}).status_code == 201
    r = ops.post("op2_admin", "/v1/operator/tariffs", json={"rules": _rules("op1-evening", 2)})
    assert r.status_code == 403 and "another operator owns it" in r.json()["message"]
    assert ops.post("op1_admin2", "/v1/operator/tariffs", json={"rules": _rules("op1-evening", 2)}).status_code == 201
    # a bundled tariff no car park uses is the city's
    unused = next(t for t in ops.platform.tariffs.ids() if t not in ("suzhou-offstreet", "op1-evening"))
    assert ops.post("op1_admin", "/v1/operator/tariffs", json={"rules": _rules(unused, 9)}).status_code == 403
    assert ops.post("gusu", "/v1/operator/tariffs", json={"rules": _rules("op1-evening", 3)}).status_code == 403
    published = [(e["subject"], e["actor_name"]) for e in
                 ops.get("city_viewer", "/v1/operator/audit", params={"action": "tariff.publish"}).json()["entries"]]
    assert published == [("tariff:op1-evening", "op1_admin2"), ("tariff:op1-evening", "op1_admin"),
                         ("tariff:suzhou-offstreet", "op2_admin")]
