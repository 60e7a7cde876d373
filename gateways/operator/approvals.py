"""Operator gateway: refunds waiting for a second person (role finance), and the decision on each."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from billing.refund_approvals import ApprovalNotFound, RefundApproval, RefundApprovals
from gateways.http.deps import BillingDep, PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, check_action, readable_lots, readable_operators
from gateways.operator.refund_read import RefundRead, refund_read
from gateways.operator.settings import operator_settings

router = APIRouter(prefix="/v1/operator/refund-approvals", tags=["operator billing"])
ERRORS = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
          403: {"model": ErrorBody, "description": "you asked for this refund, or your role is below finance, or a district"},
          404: {"model": ErrorBody, "description": "no such approval (or not yours)"},
          409: {"model": ErrorBody, "description": "already decided the other way, or the refund was refused"}}


class ApprovalRead(BaseModel):
    approval_id: str
    order_id: str
    lot_id: str
    operator_id: str
    amount_fen: int
    reason: str
    request_id: str
    status: Literal["pending", "approved", "rejected"]
    requested_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class ApprovalList(BaseModel):
    approvals: list[ApprovalRead]
    next_offset: int | None = None


class DecisionBody(BaseModel):
    note: str = Field(default="", max_length=500)


def approval_read(a: RefundApproval) -> ApprovalRead:
    return ApprovalRead(approval_id=a.id, order_id=a.order_id, lot_id=a.lot_id, operator_id=a.operator_id, amount_fen=a.amount_fen,
                        reason=a.reason, request_id=a.request_id, status=a.status, requested_by=a.requested_by,
                        created_at=a.created_at, decided_by=a.decided_by, decided_at=a.decided_at, note=a.note)


def approvals_of(platform, billing) -> RefundApprovals:  # noqa: ANN001
    return RefundApprovals(uow=platform.uow, clock=platform.clock, refunds=billing.refunds,
                           limit_fen=operator_settings(platform).refund_approval_above_fen)


@router.get("", response_model=ApprovalList, responses={401: ERRORS[401]})
def approvals(p: OperatorPrincipal, platform: PlatformDep, billing: BillingDep, page: PageDep,
              status: Literal["pending", "approved", "rejected"] | None = None) -> ApprovalList:
    """Refund approvals of your car parks, oldest first; `status=pending` is the finance queue."""
    operators = readable_operators(p, platform) if p.kind == "operator" else None
    lots = readable_lots(p, platform) if p.kind == "district" else None
    rows = approvals_of(platform, billing).listed(operator_ids=operators, lot_ids=lots, status=status, limit=page.limit,
                                                  offset=page.offset)
    return ApprovalList(approvals=[approval_read(a) for a in rows], next_offset=page.next_offset(len(rows)))


def _decide(approval_id: str, approve: bool, p, platform, billing, note: str):  # noqa: ANN001, ANN202
    book = approvals_of(platform, billing)
    row = book.get(approval_id)
    check_action(p, platform, lot_id=row.lot_id, operator_id=row.operator_id, role="finance",
                 missing=ApprovalNotFound(f"approval_id: no refund approval {approval_id!r}", field="approval_id",
                                          value=approval_id))
    outcome = book.decide(approval_id, approve=approve, actor=p, note=note)
    return {"approval": approval_read(outcome.approval), "refund": refund_read(outcome.refund) if outcome.refund else None}


class Decided(BaseModel):
    approval: ApprovalRead
    refund: RefundRead | None = Field(description="the refund sent on approval (as POST /orders/{id}/refund answers it)")


@router.post("/{approval_id}/approve", response_model=Decided, responses=ERRORS)
def approve(approval_id: str, p: OperatorPrincipal, platform: PlatformDep, billing: BillingDep,
            body: DecisionBody | None = None) -> Decided:
    """Approve and send the refund; never by the person who asked for it. Approving again re-sends the same refund."""
    out = _decide(approval_id, True, p, platform, billing, body.note if body else "")
    return Decided(**out)


@router.post("/{approval_id}/reject", response_model=Decided, responses=ERRORS)
def reject(approval_id: str, p: OperatorPrincipal, platform: PlatformDep, billing: BillingDep,
           body: DecisionBody | None = None) -> Decided:
    out = _decide(approval_id, False, p, platform, billing, body.note if body else "")
    return Decided(**out)
