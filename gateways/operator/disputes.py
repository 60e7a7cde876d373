"""Operator gateway: the queue of plate disputes, and the decision on each.

Whose dispute is it? The plate's stays say: operators and districts see the disputes of plates that parked
at their car parks; the operator of the car park of the plate's latest stay decides (or the city, which
also decides disputes of plates never seen parking)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from gateways.driver.auth import AccountsDep
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, Principal, in_scope, log_refusal, require_role
from parking_core.account_models import PlateDispute
from parking_core.accounts import DisputeNotFound
from parking_core.db import kept
from parking_core.errors import Forbidden
from parking_core.session_models import ParkingSession

router = APIRouter(prefix="/v1/operator", tags=["operator"])
ERRORS = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
          403: {"model": ErrorBody, "description": "another operator (or the city) decides it, a district, or a role below staff"},
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
    decided_by_operator: str | None = Field(None, description="the operator that decides it (its car park had the "
                                                               "plate's latest stay); null: the city")


class OperatorDisputeList(BaseModel):
    disputes: list[OperatorDisputeRead]
    next_offset: int | None = None


class Decision(BaseModel):
    note: str = Field(default="", max_length=2_000, description="why; shown to the claimant")


def _read(d: PlateDispute, decider: str | None) -> OperatorDisputeRead:
    return OperatorDisputeRead(
        id=d.id, plate=d.plate, color=d.color, status=d.status, claimant_account_id=d.claimant_account_id,
        holder_account_id=d.holder_account_id, reason=d.reason, evidence=d.evidence, created_at=d.created_at,
        resolved_at=d.resolved_at, resolved_by=d.resolved_by, resolution_note=d.resolution_note, decided_by_operator=decider,
    )


def _stays_of(platform, plates: set[str]) -> dict[str, tuple[set[str], str | None]]:  # noqa: ANN001
    """plate -> (the car parks where it stayed, the car park of its latest stay)."""
    if not plates:
        return {}
    last = func.max(func.coalesce(ParkingSession.exited_at, ParkingSession.entered_at, ParkingSession.created_at))
    with platform.uow() as uow:
        rows = uow.session.execute(select(ParkingSession.plate, ParkingSession.lot_id, last.label("last"))
                                   .where(ParkingSession.plate.in_(sorted(plates)))
                                   .group_by(ParkingSession.plate, ParkingSession.lot_id)).all()
    out: dict[str, tuple[set[str], str | None]] = {}
    best: dict[str, tuple] = {}
    for plate, lot_id, at in rows:
        lots, _ = out.setdefault(plate, (set(), None))
        lots.add(lot_id)
        if plate not in best or (at, lot_id) > best[plate]:
            best[plate] = (at, lot_id)
    return {plate: (lots, best[plate][1] if plate in best else None) for plate, (lots, _) in out.items()}


def _decider(platform, latest_lot: str | None) -> str | None:  # noqa: ANN001
    lot = platform.directory.get(latest_lot) if latest_lot else None
    return lot.operator if lot else None


def _visible(p: Principal, platform, lots: set[str]) -> bool:  # noqa: ANN001
    return p.kind == "city" or any(in_scope(p, platform, lot_id=lot, operator_id=None) for lot in lots)


@router.get("/disputes", response_model=OperatorDisputeList, responses={401: ERRORS[401]})
def disputes(p: OperatorPrincipal, accounts: AccountsDep, platform: PlatformDep, page: PageDep,
             status: Literal["open", "granted", "rejected"] | None = Query(None)) -> OperatorDisputeList:
    """Disputes of plates that parked at your car parks, oldest first; `status=open` is the work queue."""
    every = accounts.disputes(status)
    stays = _stays_of(platform, {d.plate for d in every})
    mine = [(d, stays.get(d.plate, (set(), None))) for d in every]
    mine = [(d, latest) for d, (lots, latest) in mine if _visible(p, platform, lots)]
    shown = mine[page.offset:page.offset + page.limit]
    return OperatorDisputeList(disputes=[_read(d, _decider(platform, latest)) for d, latest in shown],
                               next_offset=page.next_offset(len(shown)))


def _decide(dispute_id: str, p: Principal, accounts, platform, grant: bool, note: str) -> OperatorDisputeRead:  # noqa: ANN001
    with platform.uow() as uow:
        found = kept(uow.session, uow.session.get(PlateDispute, dispute_id))
    if found is None:
        raise DisputeNotFound(f"no dispute {dispute_id!r}", field="dispute_id", value=dispute_id)
    _, latest = _stays_of(platform, {found.plate}).get(found.plate, (set(), None))
    decider = _decider(platform, latest)
    require_role(p, "staff", what="dispute_id", value=dispute_id)
    if p.kind == "operator" and p.org_id != decider:
        log_refusal(p, 403, "dispute_id", dispute_id)
        raise Forbidden(f"dispute_id: the plate's latest stay was at {decider or 'no car park'}'s car park; "
                        f"{'that operator' if decider else 'the city'} decides", field="dispute_id", value=dispute_id)
    # the decision and its audit row (dispute.grant / dispute.reject) commit together (parking_core/accounts/disputes.py)
    decided = (accounts.grant_dispute if grant else accounts.reject_dispute)(dispute_id, operator=p, note=note, operator_id=decider)
    return _read(decided, decider)


@router.post("/disputes/{dispute_id}/grant", response_model=OperatorDisputeRead, responses=ERRORS)
def grant(dispute_id: str, p: OperatorPrincipal, accounts: AccountsDep, platform: PlatformDep,
          body: Decision | None = None) -> OperatorDisputeRead:
    """Move the plate to the claimant, unbinding whoever holds it."""
    return _decide(dispute_id, p, accounts, platform, True, body.note if body else "")


@router.post("/disputes/{dispute_id}/reject", response_model=OperatorDisputeRead, responses=ERRORS)
def reject(dispute_id: str, p: OperatorPrincipal, accounts: AccountsDep, platform: PlatformDep,
           body: Decision | None = None) -> OperatorDisputeRead:
    return _decide(dispute_id, p, accounts, platform, False, body.note if body else "")
