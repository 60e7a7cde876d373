"""Every change of money or data a person makes through the operator API leaves exactly one audit row — who, what,
before, after — written by the operation itself in the change's own transaction. On PostgreSQL that is checked
directly: a row's `xmin` names the transaction that wrote it, and the audit row's is the change's."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from gateways.operator.permissions import principals_of
from tests.billing_flow.conftest import OPERATOR, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.factories import passage_msg
from tests.operators.conftest import CITY

_phones = itertools.count(13_500_000_000)


@pytest.fixture
def env(billing_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PARKING_REFUND_APPROVAL_ABOVE_FEN", "300")
    e = billing_env()
    e.keys = {}
    for name, role in (("clerk", "staff"), ("boss", "finance")):
        issued = principals_of(e.platform).issue_key(actor=CITY, org_kind="operator", org_id="op2", role=role, label=name)
        e.keys[name] = {"X-Operator-Key": issued.secret}
    return e


class Log:
    """The audit log as the city reads it, and what one call added to it."""

    def __init__(self, env) -> None:
        self.env = env

    def _entries(self) -> list[dict]:
        return self.env.api.get("/v1/operator/audit", params={"limit": 200}, headers=OPERATOR).json()["entries"]

    def added(self, who: str, method: str, path: str, json=None) -> tuple[dict, list[dict]]:  # noqa: ANN001
        """Call as `who`; (the answer, the audit rows the call added, oldest first)."""
        seen = {e["id"] for e in self._entries()}
        r = getattr(self.env.api, method)(path, headers=self.env.keys[who], json=json)
        assert r.status_code in (200, 201, 202), r.text
        return r.json(), [e for e in reversed(self._entries()) if e["id"] not in seen]


def _xmin(env, sql: str, **params) -> str:
    with env.platform.engine.connect() as c:
        return c.execute(text(sql), params).scalar_one()


def same_transaction(env, row: dict, witness_sql: str, **params) -> None:
    """On PostgreSQL: the audit row was written by the transaction that wrote the witness (a row of the change itself)."""
    if env.platform.engine.dialect.name != "postgresql":
        return
    audit = _xmin(env, "SELECT xmin::text FROM operator_audit WHERE id = :id", id=row["id"])
    assert audit == _xmin(env, witness_sql, **params), f"{row['action']} was audited in a transaction of its own"


def _one(rows: list[dict], action: str, who: str, subject: str) -> dict:
    assert [(e["action"], e["actor_name"], e["actor_org"], e["subject"]) for e in rows] == [(action, who, "op2", subject)]
    assert rows[0]["operator_id"] == "op2"
    return rows[0]


def _driver(env) -> str:
    phone = str(next(_phones))
    env.accounts.request_code(phone)
    return env.accounts.sign_in(phone, env.sender.last_code(phone)).account_id


def test_each_persons_change_leaves_one_audit_row_in_its_own_transaction(env):
    log = Log(env)
    env.driver("苏E12345")
    paid = env.stay("苏E12345", minutes=150)  # at G1 (op2): 400 fen, withheld
    env.work()
    assert env.order(paid.id).paid_fen == 400
    requested = "SELECT xmin::text FROM order_audit WHERE order_id = :o AND action = 'refund_requested' AND reason LIKE :no"

    # a refund within the limit
    refund, rows = log.added("clerk", "post", f"/v1/operator/orders/{paid.id}/refund",
                             {"amount_fen": 100, "reason": "barrier fault", "request_id": "r-1"})
    row = _one(rows, "refund", "clerk", f"order:{paid.id}")
    assert (row["before"], row["after"]) == (None, {"request_id": "r-1", "amount_fen": 100, "status": "pending", "reason": "barrier fault"})
    same_transaction(env, row, requested, o=paid.id, no=f"%{refund['out_request_no']}%")

    # above the limit: asked, approved by another person (then sent), or rejected
    approval, rows = log.added("clerk", "post", f"/v1/operator/orders/{paid.id}/refund",
                               {"amount_fen": 250, "reason": "double charge", "request_id": "r-2"})
    row = _one(rows, "refund.request", "clerk", f"order:{paid.id}")
    assert (row["before"], row["after"]["status"], row["after"]["amount_fen"]) == (None, "pending", 250)
    decided, rows = log.added("boss", "post", f"/v1/operator/refund-approvals/{approval['approval_id']}/approve", {"note": "ok"})
    assert [(e["action"], e["actor_name"]) for e in rows] == [("refund.approve", "boss"), ("refund", "boss")]
    assert (rows[0]["before"]["status"], rows[0]["after"]["status"], rows[1]["after"]["amount_fen"]) == ("pending", "approved", 250)
    same_transaction(env, rows[0], "SELECT xmin::text FROM refund_approvals WHERE id = :a", a=approval["approval_id"])
    same_transaction(env, rows[1], requested, o=paid.id, no=f"%{decided['refund']['out_request_no']}%")
    assert env.order(paid.id).refunded_fen == 350
    approval, _ = log.added("clerk", "post", f"/v1/operator/orders/{paid.id}/refund",
                            {"amount_fen": 50, "reason": "goodwill", "request_id": "r-3"})
    _, rows = log.added("boss", "post", f"/v1/operator/refund-approvals/{approval['approval_id']}/reject", {"note": "no"})
    row = _one(rows, "refund.reject", "boss", f"order:{paid.id}")
    assert (row["before"]["status"], row["after"]["status"]) == ("pending", "rejected")
    same_transaction(env, row, "SELECT xmin::text FROM refund_approvals WHERE id = :a", a=approval["approval_id"])

    # a void
    owed = env.stay("苏E77777", minutes=90)  # nobody holds the plate: unpaid
    _, rows = log.added("clerk", "post", f"/v1/operator/orders/{owed.id}/void", {"reason": "test car"})
    row = _one(rows, "order.void", "clerk", f"order:{owed.id}")
    assert (row["before"]["status"], row["after"]["status"], row["after"]["reason"]) == ("unpaid", "void", "test car")
    assert row["before"]["amount_fen"] == row["after"]["amount_fen"] == owed.amount_fen
    same_transaction(env, row, "SELECT xmin::text FROM order_audit WHERE order_id = :o AND to_status = 'void'", o=owed.id)

    # a monthly pass
    issued, rows = log.added("clerk", "post", "/v1/operator/passes",
                             {"plate": "苏E88888", "lot_id": "G1", "valid_from": "2026-11-01", "valid_to": "2026-11-30"})
    row = _one(rows, "pass.add", "clerk", f"pass:{issued['id']}")
    assert row["before"] is None and row["after"] == {**issued, "created_at": row["after"]["created_at"]}
    assert row["after"]["created_by"] == "clerk" and row["after"]["valid_to"] == "2026-11-30"
    same_transaction(env, row, "SELECT xmin::text FROM monthly_passes WHERE id = :p", p=issued["id"])

    # a stay corrected, and an unmatched exit given its entry
    later = env.stay("苏E66666", minutes=60)
    new_exit = (later.exited_at + timedelta(minutes=30)).isoformat()
    stay, rows = log.added("clerk", "post", f"/v1/operator/stays/{later.session_id}/correct",
                           {"field": "exited_at", "value": new_exit, "reason": "gate clock slow"})
    row = _one(rows, "stay.correct", "clerk", f"stay:{later.session_id}")
    assert [datetime.fromisoformat(row[k]["exited_at"]) for k in ("before", "after")] == [
        later.exited_at, datetime.fromisoformat(stay["exited_at"])]
    same_transaction(env, row, "SELECT xmin::text FROM session_audit WHERE session_id = :s AND action = 'correct'", s=later.session_id)
    env.platform.pipeline.process([passage_msg("G1", "out1", "each-unmatched", "out", "苏E55555", env.clock())])
    with env.platform.engine.connect() as c:
        unmatched = c.execute(text("SELECT id FROM parking_sessions WHERE plate = '苏E55555'")).scalar_one()
    _, rows = log.added("clerk", "post", f"/v1/operator/stays/{unmatched}/confirm-entry",
                        {"entered_at": (env.clock() - timedelta(hours=2)).isoformat(), "reason": "CCTV"})
    row = _one(rows, "stay.confirm_entry", "clerk", f"stay:{unmatched}")
    assert (row["before"]["status"], row["after"]["status"], row["before"]["entered_at"]) == ("unmatched", "closed", None)
    same_transaction(env, row, "SELECT xmin::text FROM session_audit WHERE session_id = :s AND action = 'confirm_entry'", s=unmatched)

    # plate disputes, granted and rejected (the plates last stayed at op2's G1: op2 decides)
    for plate, verb, status in (("苏E44444", "grant", "granted"), ("苏E33333", "reject", "rejected")):
        holder, claimant = _driver(env), _driver(env)
        env.accounts.bind_plate(holder, plate)
        env.stay(plate, minutes=30)
        dispute, _ = env.accounts.open_dispute(claimant, plate, reason="my car")
        _, rows = log.added("clerk", "post", f"/v1/operator/disputes/{dispute.id}/{verb}", {"note": "licence"})
        row = _one(rows, f"dispute.{verb}", "clerk", f"dispute:{dispute.id}")
        assert (row["before"], row["after"]["status"], row["after"]["claimant_account_id"]) == (
            {"status": "open", "holder_account_id": holder}, status, claimant)
        same_transaction(env, row, "SELECT xmin::text FROM plate_disputes WHERE id = :d", d=dispute.id)
