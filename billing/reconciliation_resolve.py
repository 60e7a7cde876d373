"""Resolving a reconciliation case: ask Alipay, record the missing payment or refund, refund a duplicate, correct
our record to Alipay's, or write it off (a reason, then a second person of role finance approves).

Each resolution is audited (parking_core.audit) in the transaction that makes it; Alipay is asked before that
transaction opens, and every request to it is idempotent (trade.query, refund by out_request_no), so a retried
resolution repeats nothing. When the last case of a day is resolved the day closes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from billing.alipay.client import AlipayClient, AlipayTradeNotFound, trade_query, trade_refund
from billing.models import Payment, Refund
from billing.orders import audit as order_audit
from billing.orders import lock_order
from billing.payments import PAID_STATUSES, lock_attempt, settle
from billing.reconciliation import DUPLICATE_REFUND_PREFIX, CaseNotFound, refresh_status
from billing.reconciliation_models import ReconciliationCase, ReconciliationDay
from billing.refunds import confirm_refund
from parking_core.audit import record_audit
from parking_core.db import UnitOfWork
from parking_core.errors import Conflict, DependencyUnavailable, Forbidden, InvalidInput
from parking_core.principals import ROLES

log = logging.getLogger("parking.reconciliation")

ACTIONS = ("query", "record", "refund_duplicate", "correct", "write_off", "approve_write_off")
ALLOWED = {
    "alipay_only": ("query", "record", "write_off"),
    "status_mismatch": ("query", "record", "write_off"),
    "ours_only": ("query", "write_off"),
    "amount_mismatch": ("query", "correct", "write_off"),
    "duplicate_payment": ("query", "refund_duplicate", "write_off"),
    "other_day": ("query", "correct", "write_off"),
}
MAX_REASON = 500
APPROVER_ROLE = "finance"


class Actor(Protocol):
    id: str
    kind: str
    org_id: str
    role: str
    name: str


def role_needed(action: str) -> str:
    """What a principal's role must be at least, to take this action on a case it can see."""
    return APPROVER_ROLE if action == "approve_write_off" else "staff"


def case_dict(case: ReconciliationCase) -> dict[str, Any]:
    """The case as the audit log keeps it, before and after."""
    return {"status": case.status, "resolution": case.resolution, "resolution_note": case.resolution_note,
            "proposed_by": case.proposed_by, "resolved_by": case.resolved_by, "ours_fen": case.ours_fen,
            "alipay_fen": case.alipay_fen, "kind": case.kind, "day": case.day.isoformat()}


@dataclass
class Resolutions:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    alipay: AlipayClient | None = None

    def case(self, case_id: str, *, operators: set[str] | None) -> ReconciliationCase:
        """The case when the caller may see it (`operators` None: the city); 404 alike when unknown or outside."""
        with self.uow() as uow:
            case = uow.session.get(ReconciliationCase, case_id)
            if case is None or (operators is not None and case.operator_id not in operators):
                if case is not None:
                    log.warning("reconciliation: case %s outside the caller's operators %s: 404", case_id, sorted(operators or ()))
                raise CaseNotFound(f"case_id: no reconciliation case {case_id!r}", field="case_id", value=case_id)
            uow.session.expunge_all()
            return case

    def resolve(self, case_id: str, *, action: str, actor: Actor, operators: set[str] | None,
                reason: str | None = None) -> ReconciliationCase:
        """Apply one action; a repeat of the action that resolved the case returns it unchanged."""
        if action not in ACTIONS:
            raise InvalidInput(f"action: {action!r} is not one of {', '.join(ACTIONS)}", field="action", value=action)
        reason = (reason or "").strip()
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"reason: at most {MAX_REASON} characters", field="reason", value=reason[:50])
        case = self.case(case_id, operators=operators)
        if case.status == "resolved":
            if case.resolution == _RESOLUTION.get(action):
                return case
            raise Conflict(f"case {case_id} was already resolved ({case.resolution}) by {case.resolved_by}", field="case_id",
                           value=case_id, resolution=case.resolution)
        if action not in ALLOWED[case.kind] and action != "approve_write_off":
            raise InvalidInput(f"action: {action!r} does not resolve a {case.kind} case; use one of {', '.join(ALLOWED[case.kind])}",
                               field="action", value=action)
        return getattr(self, f"_{action}")(case, actor, reason)

    # -- actions ----------------------------------------------------------------------------------

    def _query(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        """Keep Alipay's current word on the trade in the case; the case stays as it is otherwise."""
        view = self._ask(case)
        return self._write(case, actor, "reconciliation.query", lambda c, db, now: setattr(c, "alipay_view", view))

    def _record(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        """Record what Alipay says was paid or refunded: a payment through billing's own settle, once."""
        if case.line == "refund":
            return self._record_refund(case, actor)
        view = self._ask(case)
        if view.get("trade_status") not in PAID_STATUSES:
            raise Conflict(f"Alipay says trade {case.out_trade_no} is {view.get('trade_status')}: nothing paid to record",
                           field="trade_status", value=view.get("trade_status"))

        def apply(c: ReconciliationCase, uow: UnitOfWork, now: datetime) -> None:
            found = lock_attempt(uow.session, c.out_trade_no)
            if found is None:
                raise Conflict(f"{c.out_trade_no} is not a trade number of ours: write the case off", field="out_trade_no",
                               value=c.out_trade_no)
            order, attempt = found
            if view["total_amount_fen"] != attempt.amount_fen:
                raise Conflict(f"Alipay's {view['total_amount_fen']} fen is not the {attempt.amount_fen} fen asked: correct or write off",
                               field="total_amount", value=view["total_amount_fen"])
            paid_at = datetime.fromisoformat(view["paid_at"]) if view.get("paid_at") else c.alipay_at
            settle(uow, order, attempt, trade_status=view["trade_status"], trade_no=view["trade_no"], amount_fen=attempt.amount_fen,
                   paid_at=paid_at, buyer_id=view.get("buyer_user_id"), source="reconcile", now=now)
            c.alipay_view = view
            _resolved(c, "recorded", actor, f"payment of {attempt.amount_fen} fen recorded from Alipay's answer", now)

        return self._write(case, actor, "reconciliation.record", apply, with_uow=True)

    def _record_refund(self, case: ReconciliationCase, actor: Actor) -> ReconciliationCase:
        def apply(c: ReconciliationCase, uow: UnitOfWork, now: datetime) -> None:
            refund = uow.session.scalars(select(Refund).where(Refund.out_request_no == c.request_no)).first()
            if refund is None:
                raise Conflict(f"refund {c.request_no} was not made through the platform: write the case off", field="request_no",
                               value=c.request_no)
            order = lock_order(uow.session, refund.order_id)
            confirm_refund(uow, order, out_request_no=c.request_no, at=c.alipay_at or now, now=now)
            _resolved(c, "recorded", actor, f"refund {c.request_no} of {refund.amount_fen} fen recorded as Alipay made it", now)

        return self._write(case, actor, "reconciliation.record", apply, with_uow=True)

    def _refund_duplicate(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        """Give the second taking back (alipay.trade.refund of that trade_no, out_request_no DUP+case id: repeatable)."""
        client = self._client()
        number = f"{DUPLICATE_REFUND_PREFIX}{case.id}"
        result = trade_refund(client, out_request_no=number, refund_amount_fen=case.alipay_fen, trade_no=case.trade_no,
                              reason=reason or "duplicate payment")
        note = f"refunded {case.alipay_fen} fen of duplicate trade {case.trade_no} as {number}" + (f": {reason}" if reason else "")

        def apply(c: ReconciliationCase, db: Any, now: datetime) -> None:
            c.alipay_view = {"refund_request_no": number, "refund_fee_fen": result.refund_fee_fen, "trade_no": result.trade_no}
            _resolved(c, "refunded", actor, note, now)

        return self._write(case, actor, "reconciliation.refund_duplicate", apply)

    def _correct(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        """Make our record say what Alipay's does: the amount (and the order's paid or refunded sum), or the day."""
        if not reason:
            raise InvalidInput("reason: a correction needs a reason", field="reason", value="")

        def apply(c: ReconciliationCase, uow: UnitOfWork, now: datetime) -> None:
            db = uow.session
            row = (db.scalars(select(Refund).where(Refund.out_request_no == c.request_no)).first() if c.line == "refund"
                   else db.scalars(select(Payment).where(Payment.out_trade_no == c.out_trade_no)).first())
            if row is None:
                raise Conflict(f"nothing recorded here under {c.request_no or c.out_trade_no} to correct", field="out_trade_no",
                               value=c.out_trade_no)
            order = lock_order(db, row.order_id)
            if c.kind == "amount_mismatch":
                delta = c.alipay_fen - row.amount_fen
                row.amount_fen = c.alipay_fen
                if c.line == "refund":
                    order.refunded_fen += delta
                else:
                    order.paid_fen += delta
                what = f"{c.line} {c.request_no or c.out_trade_no} corrected by {delta:+d} fen to Alipay's {c.alipay_fen} fen: {reason}"
            else:
                when = c.alipay_at
                if c.line == "refund":
                    row.completed_at = when
                else:
                    row.paid_at = when
                what = f"{c.line} {c.request_no or c.out_trade_no} dated as Alipay dates it, {when.isoformat()}: {reason}"
            order.updated_at = now
            order_audit(db, order, actor.name, "reconcile_correct", what, now)
            _resolved(c, "corrected", actor, what, now)

        return self._write(case, actor, "reconciliation.correct", apply, with_uow=True)

    def _write_off(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        """The first person's half of a write-off: the reason; a second person of role finance approves."""
        if not reason:
            raise InvalidInput("reason: a write-off needs a reason", field="reason", value="")
        if case.status == "awaiting_approval":
            raise Conflict(f"case {case.id} already awaits the approval of its write-off by a second person", field="case_id",
                           value=case.id)

        def apply(c: ReconciliationCase, db: Any, now: datetime) -> None:
            c.status, c.proposed_by, c.resolution_note, c.updated_at = "awaiting_approval", actor.id, reason, now

        return self._write(case, actor, "reconciliation.write_off", apply)

    def _approve_write_off(self, case: ReconciliationCase, actor: Actor, reason: str) -> ReconciliationCase:
        if case.status != "awaiting_approval":
            raise Conflict(f"case {case.id} has no write-off to approve", field="case_id", value=case.id)
        if actor.id == case.proposed_by:
            raise Forbidden("a write-off needs a second person: the one who proposed it may not approve it", field="case_id",
                            value=case.id)
        if ROLES.index(actor.role) < ROLES.index(APPROVER_ROLE):
            raise Forbidden(f"approving a write-off needs role {APPROVER_ROLE}, not {actor.role}", field="case_id", value=case.id)

        def apply(c: ReconciliationCase, db: Any, now: datetime) -> None:
            _resolved(c, "written_off", actor, f"{c.resolution_note} (proposed by {c.proposed_by}, approved by {actor.id})", now)

        return self._write(case, actor, "reconciliation.approve_write_off", apply)

    # -- plumbing ---------------------------------------------------------------------------------

    def _write(self, case: ReconciliationCase, actor: Actor, action: str, apply: Callable, *, with_uow: bool = False) -> ReconciliationCase:
        """Lock the case, check it is still as read, apply, audit, refresh the day, commit."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            c = db.get(ReconciliationCase, case.id, with_for_update=True, populate_existing=True)
            if c.status != case.status:
                raise Conflict(f"case {case.id} changed meanwhile (now {c.status}); read it again", field="case_id", value=case.id)
            before = case_dict(c)
            apply(c, uow if with_uow else db, now)
            c.updated_at = now
            record_audit(db, actor=actor, action=action, subject=f"reconciliation_case:{c.id}", operator_id=c.operator_id,
                         before=before, after=case_dict(c), at=now)
            db.flush()
            day = db.get(ReconciliationDay, c.day, with_for_update=True)
            refresh_status(db, day, now)
            uow.commit()
            db.refresh(c)
            db.expunge_all()
            return c

    def _ask(self, case: ReconciliationCase) -> dict[str, Any]:
        """alipay.trade.query of the case's trade, as plain data to keep in the case."""
        client = self._client()
        try:
            status = (trade_query(client, trade_no=case.trade_no) if case.kind == "duplicate_payment"
                      else trade_query(client, out_trade_no=case.out_trade_no))
        except AlipayTradeNotFound:
            return {"trade_status": "NOT_FOUND", "out_trade_no": case.out_trade_no}
        return {"trade_status": status.trade_status, "trade_no": status.trade_no, "out_trade_no": status.out_trade_no,
                "total_amount_fen": status.total_amount_fen, "paid_at": status.paid_at.isoformat() if status.paid_at else None,
                "buyer_user_id": status.buyer_user_id}

    def _client(self) -> AlipayClient:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured (set ALIPAY_APP_ID and the keys)", field="ALIPAY_APP_ID")
        return self.alipay


_RESOLUTION = {"record": "recorded", "refund_duplicate": "refunded", "correct": "corrected", "approve_write_off": "written_off"}


def _resolved(case: ReconciliationCase, resolution: str, actor: Actor, note: str, now: datetime) -> None:
    case.status, case.resolution, case.resolution_note = "resolved", resolution, note
    case.resolved_by, case.resolved_at, case.updated_at = actor.id, now, now


__all__ = ["ACTIONS", "ALLOWED", "Resolutions", "case_dict", "role_needed"]
