"""The audit log: a row for each change a person makes (who, when, what, before, after), readable by the
owner and the city, and never editable, on SQLite as on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

PASS = {"plate": "苏E12345", "valid_from": "2026-11-01", "valid_to": "2026-11-30"}


def _actions(ops, who: str) -> list[tuple[str, str]]:
    """The audit rows `who` reads, without the fixture's key issues."""
    return [(e["action"], e["actor_name"]) for e in ops.get(who, "/v1/operator/audit").json()["entries"]
            if e["action"] != "key.issue"]


def test_each_action_writes_who_what_before_and_after(ops):
    ops.key("op2_admin", org_kind="operator", org_id="op2", role="admin")
    issued_by_the_city = ops.get("op2", "/v1/operator/audit").json()["entries"]
    assert {(e["action"], e["actor_org"]) for e in issued_by_the_city} == {("key.issue", "city")}  # the fixture's keys
    ops.stay("苏E11111", lot="G1")
    order = ops.get("op2", "/v1/operator/orders").json()["orders"][0]
    assert ops.post("op2", "/v1/operator/passes", json={**PASS, "lot_id": "G1"}).status_code == 201
    assert ops.post("op2", f"/v1/operator/orders/{order['id']}/void", json={"reason": "test car"}).status_code == 200
    key = ops.post("op2_admin", "/v1/operator/keys", json={"label": "gate"}).json()
    assert ops.post("op2_admin", f"/v1/operator/keys/{key['id']}/revoke").status_code == 200
    entries = ops.get("op2", "/v1/operator/audit").json()["entries"][:-len(issued_by_the_city)]
    assert [(e["action"], e["actor_name"], e["actor_org"]) for e in entries] == [
        ("key.revoke", "op2_admin", "op2"), ("key.issue", "op2_admin", "op2"), ("order.void", "op2", "op2"),
        ("pass.add", "op2", "op2")]
    void = entries[2]
    assert void["subject"] == f"order:{order['id']}" and void["operator_id"] == "op2"
    assert (void["before"]["status"], void["after"]["status"], void["after"]["reason"]) == (order["status"], "void", "test car")
    assert entries[0]["before"]["revoked_at"] is None and entries[0]["after"]["revoked_at"] is not None
    assert key["key"] not in str(entries)
    assert not any(e["operator_id"] == "op2" for e in ops.get("op1", "/v1/operator/audit").json()["entries"])


def test_the_owner_and_the_city_read_the_rows_others_do_not(ops):
    assert ops.post("op1", "/v1/operator/passes", json={**PASS, "lot_id": "S1"}).status_code == 201
    assert ops.post("city", "/v1/operator/passes", json={**PASS, "lot_id": "G1"}).status_code == 201
    assert _actions(ops, "op1") == [("pass.add", "op1")]
    assert _actions(ops, "op2") == [("pass.add", "city")]  # done by the city to op2's car park: op2 sees it
    assert sorted(_actions(ops, "city_viewer")) == [("pass.add", "city"), ("pass.add", "op1")]
    assert _actions(ops, "gusu") == []


def test_audit_rows_cannot_be_changed_or_deleted(ops):
    assert ops.post("op1", "/v1/operator/passes", json={**PASS, "lot_id": "S1"}).status_code == 201
    for statement in ("UPDATE operator_audit SET actor_name = 'someone else'", "DELETE FROM operator_audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            with ops.platform.engine.begin() as c:
                c.execute(text(statement))
    assert _actions(ops, "op1") == [("pass.add", "op1")]


def test_the_log_pages_with_a_cursor(ops):
    for day in range(1, 6):
        body = {**PASS, "lot_id": "S1", "valid_from": f"2026-12-0{day}", "valid_to": f"2026-12-0{day}"}
        assert ops.post("op1", "/v1/operator/passes", json=body).status_code == 201
    first = ops.get("op1", "/v1/operator/audit", params={"limit": 3, "action": "pass.add"}).json()
    rest = ops.get("op1", "/v1/operator/audit", params={"limit": 3, "action": "pass.add", "cursor": first["next_cursor"]}).json()
    assert len(first["entries"]) == 3 and len(rest["entries"]) == 2 and rest["next_cursor"] is None
    ids = [e["id"] for e in first["entries"] + rest["entries"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
