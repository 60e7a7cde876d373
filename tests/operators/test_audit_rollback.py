"""A person's change and its audit row are one unit of work: when the audit log refuses the row (here a trigger
planted in the database, as a full disk or a broken constraint would), the change is not made either — no refund,
no money moved at Alipay, no voided order, no pass, no corrected stay, no decided dispute — and the answer is a
clear 503 naming the action, not an error for a change that happened. Lifted, the same request goes through once."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text

from gateways.operator.permissions import principals_of
from tests.billing_flow.conftest import alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.factories import passage_msg
from tests.operators.conftest import CITY

_phones = itertools.count(13_600_000_000)


@contextmanager
def refusing(engine, action: str):
    """While inside, the database refuses every audit row of `action` (and only those)."""
    name = "refuse_" + action.replace(".", "_")
    if engine.dialect.name == "sqlite":
        make = [f"CREATE TRIGGER {name} BEFORE INSERT ON operator_audit WHEN NEW.action = '{action}' "
                f"BEGIN SELECT RAISE(ABORT, 'audit log refuses {action}'); END"]
        drop = [f"DROP TRIGGER {name}"]
    else:
        make = [f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION 'audit log refuses {action}'; END $$",
                f"CREATE TRIGGER {name} BEFORE INSERT ON operator_audit FOR EACH ROW WHEN (NEW.action = '{action}') "
                f"EXECUTE FUNCTION {name}()"]
        drop = [f"DROP TRIGGER {name} ON operator_audit", f"DROP FUNCTION {name}()"]
    with engine.begin() as c:
        for statement in make:
            c.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as c:
            for statement in drop:
                c.execute(text(statement))


def _rows(platform, action: str) -> list[tuple]:
    with platform.engine.connect() as c:
        return c.execute(text("SELECT actor_name, subject FROM operator_audit WHERE action = :a"), {"a": action}).all()


def _refused(r, action: str) -> None:
    assert r.status_code == 503, r.text
    body = r.json()
    assert (body["code"], body["field"], body["value"]) == ("audit_not_written", "action", action)
    assert "nothing was changed" in body["message"]


# -- money: a refund ---------------------------------------------------------------------------------------------

@pytest.fixture
def env(billing_env):  # noqa: F811
    e = billing_env()
    issued = principals_of(e.platform).issue_key(actor=CITY, org_kind="operator", org_id="op2", role="finance", label="clerk")
    e.clerk = {"X-Operator-Key": issued.secret}
    return e


def test_a_refund_whose_audit_row_is_refused_is_not_made_and_no_money_moves(env):
    env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)  # at G1 (op2): 400 fen
    env.work()
    assert env.order(order.id).paid_fen == 400
    body = {"amount_fen": 100, "reason": "barrier fault", "request_id": "r-1"}
    url = f"/v1/operator/orders/{order.id}/refund"

    with refusing(env.platform.engine, "refund"):
        r = env.api.post(url, headers=env.clerk, json=body)
    _refused(r, "refund")
    assert f"order:{order.id}" in r.json()["message"]
    assert env.billing.refunds.of_order(order.id) == []                       # no refund row
    assert env.order(order.id).refunded_fen == 0                              # nothing counted
    assert not env.gw.gateway.ledger.refunds                                   # no money moved at Alipay
    assert [a.action for a in env.billing.orders.audit_of(order.id) if a.action == "refund_requested"] == []
    assert _rows(env.platform, "refund") == []

    r = env.api.post(url, headers=env.clerk, json=body)  # the log accepts rows again: the same request goes through once
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    assert env.order(order.id).refunded_fen == 100 and len(env.gw.gateway.ledger.refunds) == 1
    assert _rows(env.platform, "refund") == [("clerk", f"order:{order.id}")]
    assert env.api.post(url, headers=env.clerk, json=body).status_code == 200  # a retry: no second refund, no second row
    assert len(_rows(env.platform, "refund")) == 1 and len(env.gw.gateway.ledger.refunds) == 1


# -- data: every other change a person makes ---------------------------------------------------------------------

def _driver(ops) -> str:
    phone = str(next(_phones))
    ops.platform.accounts.request_code(phone)
    return ops.platform.accounts.sign_in(phone, ops.platform.code_sender.last_code(phone)).account_id


def _order(ops, plate: str) -> dict:
    ops.stay(plate, lot="G1")
    return next(o for o in ops.get("op2", "/v1/operator/orders").json()["orders"] if o["plate"] == plate)


def _stay(ops, plate: str, state: str) -> dict:
    return next(s for s in ops.get("op2", "/v1/operator/stays", params={"state": state}).json()["stays"] if s["plate"] == plate)


def _void(ops):
    order = _order(ops, "苏E20001")
    return (lambda: ops.post("op2", f"/v1/operator/orders/{order['id']}/void", json={"reason": "test car"}),
            lambda: ops.get("op2", f"/v1/operator/orders/{order['id']}").json()["status"] == "unpaid")


def _pass(ops):
    body = {"plate": "苏E20002", "lot_id": "G1", "valid_from": "2026-11-01", "valid_to": "2026-11-30"}
    return (lambda: ops.post("op2", "/v1/operator/passes", json=body),
            lambda: ops.get("op2", "/v1/operator/passes").json()["passes"] == [])


def _correct(ops):
    order = _order(ops, "苏E20003")
    stay = _stay(ops, "苏E20003", "closed")
    later = (ops.platform.clock() + timedelta(minutes=30)).isoformat()

    def unchanged() -> bool:
        detail = ops.get("op2", f"/v1/operator/stays/{stay['id']}").json()
        return (detail["exited_at"] == stay["exited_at"] and [a["action"] for a in detail["audit"]] == []
                and ops.get("op2", f"/v1/operator/orders/{order['id']}").json()["amount_fen"] == order["amount_fen"])
    return (lambda: ops.post("op2", f"/v1/operator/stays/{stay['id']}/correct",
                             json={"field": "exited_at", "value": later, "reason": "gate clock slow"}), unchanged)


def _confirm_entry(ops):
    ops.platform.pipeline.process([passage_msg("G1", "out1", "rollback-unmatched", "out", "苏E20004", ops.platform.clock())])
    stay = _stay(ops, "苏E20004", "unmatched")
    entered = (ops.platform.clock() - timedelta(hours=2)).isoformat()
    return (lambda: ops.post("op2", f"/v1/operator/stays/{stay['id']}/confirm-entry",
                             json={"entered_at": entered, "reason": "CCTV"}),
            lambda: _stay(ops, "苏E20004", "unmatched")["entered_at"] is None
            and all(o["plate"] != "苏E20004" for o in ops.get("op2", "/v1/operator/orders").json()["orders"]))


def _dispute(verb: str):
    def make(ops):
        holder, claimant = _driver(ops), _driver(ops)
        plate = "苏E20005" if verb == "grant" else "苏E20006"
        ops.platform.accounts.bind_plate(holder, plate)
        ops.stay(plate, lot="G1")  # op2's car park had its latest stay: op2 decides
        dispute, _ = ops.platform.accounts.open_dispute(claimant, plate, reason="my car")
        return (lambda: ops.post("op2", f"/v1/operator/disputes/{dispute.id}/{verb}", json={"note": "licence"}),
                lambda: ops.get("op2", "/v1/operator/disputes", params={"status": "open"}).json()["disputes"][0]["id"] == dispute.id
                and ops.platform.accounts.plates(holder)[0].plate == plate)
    return make


CHANGES = {"order.void": _void, "pass.add": _pass, "stay.correct": _correct, "stay.confirm_entry": _confirm_entry,
           "dispute.grant": _dispute("grant"), "dispute.reject": _dispute("reject")}


@pytest.mark.parametrize("action", sorted(CHANGES))
def test_a_change_whose_audit_row_is_refused_is_not_made(ops, action):
    act, unchanged = CHANGES[action](ops)
    with refusing(ops.platform.engine, action):
        r = act()
    _refused(r, action)
    assert unchanged(), f"{action} was made without its audit row"
    assert _rows(ops.platform, action) == []
    r = act()
    assert r.status_code in (200, 201), r.text
    assert [name for name, _ in _rows(ops.platform, action)] == ["op2"]
