"""Refunds above a set amount wait for a second person: the request is kept here, pending, until someone
else with role finance approves it; only then is it sent through billing.refunds (idempotent by the same
request id, so approving twice or after a crash refunds once). The request and the decision are audited in their
own transactions; the refund itself, naming who sent it (the requester, or the approver), in the refund's."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from billing.models import Order, Refund
from billing.orders import OrderNotFound, kept
from billing.refunds import Refunds
from parking_core.audit import record_audit
from parking_core.db import UnitOfWork
from parking_core.errors import Conflict, Forbidden, NotFound
from parking_core.models import Base
from parking_core.principals import Principal


class RefundApproval(Base):
    __tablename__ = "refund_approvals"
    __table_args__ = (UniqueConstraint("order_id", "request_id", name="uq_refund_approvals_order_request"),
                      Index("ix_refund_approvals_operator_status", "operator_id", "status"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32))
    lot_id: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(256))
    request_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    requested_by_id: Mapped[str] = mapped_column(String(100))
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    decided_by_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ApprovalNotFound(NotFound):
    code = "approval_not_found"


@dataclass(frozen=True)
class RefundOutcome:
    """Either a refund sent (with whether this call created it) or an approval awaiting a second person."""

    refund: Refund | None
    created: bool
    approval: RefundApproval | None


def _dict(a: RefundApproval) -> dict:
    return {"id": a.id, "order_id": a.order_id, "amount_fen": a.amount_fen, "request_id": a.request_id, "status": a.status,
            "requested_by": a.requested_by, "decided_by": a.decided_by, "reason": a.reason}


@dataclass
class RefundApprovals:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    refunds: Refunds
    limit_fen: int  # refunds taking an order's refunded total above this wait for approval

    def request(self, order_id: str, *, amount_fen: int, reason: str, request_id: str, actor: Principal) -> RefundOutcome:
        """Refund at once within the limit; above it, keep a pending approval (the same request id: the same one)."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            order = db.get(Order, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id)
            found = db.scalar(select(RefundApproval).where(RefundApproval.order_id == order_id,
                                                           RefundApproval.request_id == request_id))
            if found is not None:
                if found.amount_fen != amount_fen:
                    raise Conflict(f"request_id {request_id!r} was used for a refund of {found.amount_fen} fen, not {amount_fen}",
                                   field="request_id", value=request_id)
                if found.status != "approved":
                    return RefundOutcome(None, False, kept(db, found))
            elif amount_fen + order.refunded_fen > self.limit_fen and amount_fen >= 1:
                already = db.scalar(select(Refund).where(Refund.order_id == order_id, Refund.request_id == request_id))
                if already is None:
                    row = RefundApproval(id="ra_" + uuid.uuid4().hex[:16], order_id=order_id, lot_id=order.lot_id,
                                         operator_id=order.operator_id, amount_fen=amount_fen, reason=reason.strip()[:256],
                                         request_id=request_id, status="pending", requested_by_id=actor.id,
                                         requested_by=actor.name, created_at=now)
                    db.add(row)
                    record_audit(db, actor=actor, action="refund.request", subject=f"order:{order_id}",
                                 operator_id=order.operator_id, before=None, after=_dict(row), at=now)
                    uow.commit()
                    return RefundOutcome(None, False, kept(db, row))
        refund, created = self.refunds.refund(order_id, amount_fen=amount_fen, reason=reason, request_id=request_id,
                                              operator=actor.name, actor=actor)  # audited with the refund, in its transaction
        return RefundOutcome(refund, created, None)

    def get(self, approval_id: str) -> RefundApproval:
        with self.uow() as uow:
            row = uow.session.get(RefundApproval, approval_id)
            if row is None:
                raise ApprovalNotFound(f"approval_id: no refund approval {approval_id!r}", field="approval_id", value=approval_id)
            return kept(uow.session, row)

    def decide(self, approval_id: str, *, approve: bool, actor: Principal, note: str = "") -> RefundOutcome:
        """Approve (then refund) or reject; never by the person who asked. Approving again re-sends the same refund."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            row = db.get(RefundApproval, approval_id, with_for_update=True)
            if row is None:
                raise ApprovalNotFound(f"approval_id: no refund approval {approval_id!r}", field="approval_id", value=approval_id)
            if not actor.at_least("finance"):
                raise Forbidden(f"approval_id: deciding a refund needs role finance, not {actor.role}",
                                field="approval_id", value=approval_id)
            if row.requested_by_id == actor.id:
                raise Forbidden(f"approval_id: {actor.name} asked for this refund; another person with role finance must decide",
                                field="approval_id", value=approval_id)
            wanted = "approved" if approve else "rejected"
            if row.status != "pending" and row.status != wanted:
                raise Conflict(f"approval {approval_id} is already {row.status}", field="approval_id", value=approval_id)
            if row.status == "pending":
                before = _dict(row)
                row.status, row.decided_by_id, row.decided_by, row.decided_at = wanted, actor.id, actor.name, now
                row.note = note[:500] or None
                record_audit(db, actor=actor, action="refund.approve" if approve else "refund.reject",
                             subject=f"order:{row.order_id}", operator_id=row.operator_id, before=before, after=_dict(row), at=now)
                uow.commit()
            row = kept(db, row)
        if not approve:
            return RefundOutcome(None, False, row)
        refund, created = self.refunds.refund(row.order_id, amount_fen=row.amount_fen, reason=row.reason, request_id=row.request_id,
                                              operator=f"{row.requested_by} (approved by {row.decided_by})", actor=actor)
        return RefundOutcome(refund, created, row)

    def listed(self, *, operator_ids: set[str] | None, lot_ids: set[str] | None, status: str | None,
               limit: int, offset: int) -> list[RefundApproval]:
        with self.uow() as uow:
            q = select(RefundApproval)
            if operator_ids is not None:
                q = q.where(RefundApproval.operator_id.in_(sorted(operator_ids)))
            if lot_ids is not None:
                q = q.where(RefundApproval.lot_id.in_(sorted(lot_ids)))
            if status:
                q = q.where(RefundApproval.status == status)
            return kept(uow.session, list(uow.session.scalars(q.order_by(RefundApproval.created_at, RefundApproval.id)
                                                             .offset(offset).limit(limit))))
