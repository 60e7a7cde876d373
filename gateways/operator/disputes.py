"""Operator gateway: the queue of plate disputes, and the decision on each."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateways.driver.auth import AccountsDep
from gateways.operator.permissions import OperatorUser
from gateways.citizen.schemas import ErrorBody
from parking_core.account_models import PlateDispute

router = APIRouter(prefix="/v1/operator", tags=["operator"])
ERRORS = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
          404: {"model": ErrorBody, "description": "no such dispute"},
          409: {"model": ErrorBody, "description": "already decided, or the claimant is at the plate limit"}}


class OperatorDisputeRead(BaseModel):
    id: str
    plate: str
    color: str | None
    status: str
    claimant_account_id: str
    holder_account_id: str
    reason: str
    evidence: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class OperatorDisputeList(BaseModel):
    disputes: list[OperatorDisputeRead]


class Decision(BaseModel):
    note: str = Field(default="", max_length=2_000, description="why; shown to the claimant")


def _read(d: PlateDispute) -> OperatorDisputeRead:
    return OperatorDisputeRead(
        id=d.id, plate=d.plate, color=d.color, status=d.status, claimant_account_id=d.claimant_account_id,
        holder_account_id=d.holder_account_id, reason=d.reason, evidence=d.evidence, created_at=d.created_at,
        resolved_at=d.resolved_at, resolved_by=d.resolved_by, resolution_note=d.resolution_note,
    )


@router.get("/disputes", response_model=OperatorDisputeList, responses={401: ERRORS[401]})
def disputes(operator: OperatorUser, accounts: AccountsDep,
             status: Literal["open", "granted", "rejected"] | None = Query(None)) -> OperatorDisputeList:
    """Disputes oldest first; `status=open` is the work queue."""
    return OperatorDisputeList(disputes=[_read(d) for d in accounts.disputes(status)])


@router.post("/disputes/{dispute_id}/grant", response_model=OperatorDisputeRead, responses=ERRORS)
def grant(dispute_id: str, operator: OperatorUser, accounts: AccountsDep, body: Decision | None = None) -> OperatorDisputeRead:
    """Move the plate to the claimant, unbinding whoever holds it."""
    return _read(accounts.grant_dispute(dispute_id, operator=operator, note=body.note if body else ""))


@router.post("/disputes/{dispute_id}/reject", response_model=OperatorDisputeRead, responses=ERRORS)
def reject(dispute_id: str, operator: OperatorUser, accounts: AccountsDep, body: Decision | None = None) -> OperatorDisputeRead:
    return _read(accounts.reject_dispute(dispute_id, operator=operator, note=body.note if body else ""))
