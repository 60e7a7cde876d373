"""Operator gateway: stays at your car parks (open, closed, needing confirmation, unmatched exits, misread
matches), their corrections, and long stays (僵尸车 candidates). A correction and its audit row commit together."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, check_action, check_read, lot_for_read, scope_clause
from gateways.operator.settings import operator_settings
from parking_core.errors import NotFound
from parking_core.plates import normalize_plate
from parking_core.session_models import ParkingSession, SessionAudit

router = APIRouter(prefix="/v1/operator", tags=["operator stays"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
STAY = {**AUTH, 404: {"model": ErrorBody, "description": "no such stay (or not at your car parks)"},
        403: {"model": ErrorBody, "description": "a district, or a role below staff"}}
State = Literal["open", "closed", "void", "unmatched", "needs_confirmation", "misread"]


class StayRead(BaseModel):
    id: str
    lot_id: str
    plate: str
    exit_plate: str | None = Field(description="the plate read at the exit when it differed (a misread match)")
    status: str
    source: str
    berth_id: str | None
    entered_at: datetime | None
    exited_at: datetime | None
    minutes: int | None
    review: str | None = Field(description="why a person should look; null when nothing is asked")


class StayList(BaseModel):
    stays: list[StayRead]
    next_offset: int | None = None


class StayAuditRead(BaseModel):
    actor: str
    action: str
    field: str | None
    old: str | None
    new: str | None
    reason: str
    at: datetime


class StayDetail(StayRead):
    audit: list[StayAuditRead]


class Correction(BaseModel):
    field: Literal["plate", "entered_at", "exited_at"]
    value: str = Field(max_length=64, description="a plate, or an RFC 3339 time with offset")
    reason: str = Field(min_length=1, max_length=500)


class EntryConfirmation(BaseModel):
    entered_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)


def stay_read(s: ParkingSession, now: datetime) -> StayRead:
    end = s.exited_at or (now if s.status == "open" else None)
    minutes = int((end - s.entered_at).total_seconds() // 60) if end and s.entered_at else None
    return StayRead(id=s.id, lot_id=s.lot_id, plate=s.plate, exit_plate=s.exit_plate, status=s.status, source=s.source,
                    berth_id=s.berth_id, entered_at=s.entered_at, exited_at=s.exited_at, minutes=minutes, review=s.review)


def _state(q, state: State | None):  # noqa: ANN001, ANN202
    if state in ("open", "closed", "void", "unmatched"):
        return q.where(ParkingSession.status == state)
    if state == "needs_confirmation":
        return q.where(ParkingSession.review.is_not(None))
    if state == "misread":
        return q.where(ParkingSession.exit_plate.is_not(None))
    return q


@router.get("/stays", response_model=StayList, responses=AUTH)
def stays(p: OperatorPrincipal, platform: PlatformDep, page: PageDep, state: State | None = None,
          lot_id: str | None = None, plate: str | None = None) -> StayList:
    """Stays at your car parks, newest first."""
    q = _state(select(ParkingSession), state)
    if (cond := scope_clause(p, platform, lot_column=ParkingSession.lot_id)) is not None:
        q = q.where(cond)
    if lot_id is not None:
        lot_for_read(p, platform, lot_id)
        q = q.where(ParkingSession.lot_id == lot_id)
    if plate is not None:
        q = q.where(ParkingSession.plate == normalize_plate(plate))
    now = platform.clock()
    with platform.uow() as uow:
        rows = uow.session.scalars(q.order_by(ParkingSession.created_at.desc(), ParkingSession.id.desc())
                                   .offset(page.offset).limit(page.limit)).all()
        out = [stay_read(s, now) for s in rows]
    return StayList(stays=out, next_offset=page.next_offset(len(out)))


@router.get("/long-stays", response_model=StayList, responses=AUTH)
def long_stays(p: OperatorPrincipal, platform: PlatformDep, page: PageDep, lot_id: str | None = None,
               min_hours: float | None = Query(None, gt=0, le=24 * 365,
                                               description="default PARKING_LONG_STAY_H")) -> StayList:
    """Cars inside longer than the threshold, longest first: candidates for abandoned vehicles (僵尸车)."""
    hours = min_hours or operator_settings(platform).long_stay_h
    now = platform.clock()
    q = select(ParkingSession).where(ParkingSession.status == "open", ParkingSession.entered_at < now - timedelta(hours=hours))
    if (cond := scope_clause(p, platform, lot_column=ParkingSession.lot_id)) is not None:
        q = q.where(cond)
    if lot_id is not None:
        lot_for_read(p, platform, lot_id)
        q = q.where(ParkingSession.lot_id == lot_id)
    with platform.uow() as uow:
        rows = uow.session.scalars(q.order_by(ParkingSession.entered_at, ParkingSession.id)
                                   .offset(page.offset).limit(page.limit)).all()
        out = [stay_read(s, now) for s in rows]
    return StayList(stays=out, next_offset=page.next_offset(len(out)))


def _missing(stay_id: str) -> NotFound:
    return NotFound(f"no stay {stay_id!r}", field="session_id", value=stay_id)


def _detail(db, s: ParkingSession, now: datetime) -> StayDetail:  # noqa: ANN001
    audit = db.scalars(select(SessionAudit).where(SessionAudit.session_id == s.id).order_by(SessionAudit.id)).all()
    return StayDetail(**stay_read(s, now).model_dump(), audit=[
        StayAuditRead(actor=a.actor, action=a.action, field=a.field, old=a.old, new=a.new, reason=a.reason, at=a.at) for a in audit])


@router.get("/stays/{stay_id}", response_model=StayDetail, responses=STAY)
def stay(stay_id: str, p: OperatorPrincipal, platform: PlatformDep) -> StayDetail:
    with platform.uow() as uow:
        s = uow.session.get(ParkingSession, stay_id)
        if s is None:
            raise _missing(stay_id)
        check_read(p, platform, lot_id=s.lot_id, operator_id=None, missing=_missing(stay_id))
        return _detail(uow.session, s, platform.clock())


def _change(stay_id: str, p, platform, apply) -> StayDetail:  # noqa: ANN001
    """Check scope and role, then apply the change through the stay book, which writes its audit row; commit together."""
    with platform.uow() as uow:
        s = uow.session.get(ParkingSession, stay_id)
        if s is None:
            raise _missing(stay_id)
        check_action(p, platform, lot_id=s.lot_id, operator_id=None, missing=_missing(stay_id))
        info = platform.directory.get(s.lot_id)
        row = apply(uow, info.operator if info else None)
        uow.commit()
        return _detail(uow.session, row, platform.clock())


@router.post("/stays/{stay_id}/correct", response_model=StayDetail, responses={**STAY, 422: {"model": ErrorBody}})
def correct(stay_id: str, body: Correction, p: OperatorPrincipal, platform: PlatformDep) -> StayDetail:
    """Correct the plate, entry or exit time (role staff); a closed stay's order is repriced, a paid one flagged."""
    return _change(stay_id, p, platform, lambda uow, operator_id: platform.stays.correct(
        uow, stay_id, field=body.field, value=body.value, actor=p, reason=body.reason, operator_id=operator_id))


@router.post("/stays/{stay_id}/confirm-entry", response_model=StayDetail,
             responses={**STAY, 409: {"model": ErrorBody, "description": "the stay is not an unmatched exit"},
                        422: {"model": ErrorBody}})
def confirm_entry(stay_id: str, body: EntryConfirmation, p: OperatorPrincipal, platform: PlatformDep) -> StayDetail:
    """Give an unmatched exit its entry time (role staff): the stay closes and is billed."""
    return _change(stay_id, p, platform, lambda uow, operator_id: platform.stays.confirm_entry(
        uow, stay_id, entered_at=body.entered_at, actor=p, reason=body.reason, operator_id=operator_id))
