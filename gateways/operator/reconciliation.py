"""Operator gateway for reconciliation (对账): a day against Alipay's bill with its cases and their resolution,
and car parks' own daily stay lists against the platform's stays.

Scoped in permissions.py: an operator sees and resolves the cases of its own car parks' orders; a district
reads those of its operators; the city sees all, including trades that are nobody's, and runs days."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from billing.reconciliation import DayReconciliation
from billing.reconciliation_daily import DailyReconciliation, reconcile_bill_day
from billing.reconciliation_models import ReconciliationCase, ReconciliationDay
from billing.reconciliation_resolve import ACTIONS, ALLOWED, Resolutions, role_needed
from billing.reconciliation_settings import reconciliation_settings
from billing.reconciliation_stays import StayComparison, StayLists
from billing.settlement import month_bounds
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, lot_for_action, lot_for_read, readable_operators, require_role
from parking_core.errors import DependencyUnavailable, Forbidden, InvalidInput

router = APIRouter(prefix="/v1/operator/reconciliation", tags=["operator reconciliation"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
CASE = {**AUTH, 404: {"model": ErrorBody, "description": "no such case (or not yours)"},
        403: {"model": ErrorBody, "description": "you may read this case but not act on it (a district, a role too low, "
                                                 "or approving your own write-off)"},
        409: {"model": ErrorBody, "description": "already resolved otherwise, or Alipay's answer does not allow it"}}
Action = Literal["query", "record", "refund_duplicate", "correct", "write_off", "approve_write_off"]
assert set(Action.__args__) == set(ACTIONS)  # noqa: S101 - the schema lists exactly what the service takes


class CaseCounts(BaseModel):
    open: int = 0
    awaiting_approval: int = 0
    resolved: int = 0


class DayRead(BaseModel):
    day: date
    status: Literal["open", "balanced", "closed"] = Field(description="open: a case is unresolved; balanced: the bill and "
                                                                       "our books agreed; closed: every case found is resolved")
    bill_lines: int
    matched: int
    alipay_net_fen: int | None = Field(description="the whole bill's net (the city only)")
    ours_net_fen: int | None = Field(description="our books' net for the day (the city only)")
    service_fee_fen: int | None = Field(description="Alipay's fee column summed (the city only)")
    runs: int
    last_run_at: datetime
    closed_at: datetime | None
    cases: CaseCounts = Field(description="the cases you may see")


class MonthRead(BaseModel):
    month: str = Field(description="like 2026-11")
    days: list[DayRead] = Field(description="the days reconciled, newest first")


class CaseRead(BaseModel):
    id: str
    day: date
    kind: Literal["alipay_only", "ours_only", "amount_mismatch", "status_mismatch", "duplicate_payment", "other_day"]
    line: Literal["payment", "refund"]
    out_trade_no: str
    trade_no: str
    request_no: str
    order_id: str | None
    operator_id: str | None
    ours_fen: int | None
    alipay_fen: int | None
    alipay_at: datetime | None
    note: str
    status: Literal["open", "awaiting_approval", "resolved"]
    resolution: str | None
    resolution_note: str
    proposed_by: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    alipay_view: dict | None = Field(description="Alipay's answer to the last query of this trade")
    actions: list[Action] = Field(default_factory=list, description="the actions this case admits now, whoever asks "
                                                                     "(approve_write_off needs role finance and another person)")


class CaseList(BaseModel):
    day: date
    cases: list[CaseRead]
    next_offset: int | None = None


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action = Field(description="query: ask Alipay; record: record the payment or refund Alipay made; refund_duplicate: "
                                       "give a duplicate back; correct: make our record say what Alipay's does; write_off: "
                                       "propose with a reason; approve_write_off: a second person of role finance")
    reason: str | None = Field(None, max_length=500)


class StayListStored(BaseModel):
    lot_id: str
    day: date
    entries: int
    exits: int
    sent_by: str
    sent_at: datetime


class PassageRead(BaseModel):
    direction: Literal["in", "out"]
    plate: str
    at: datetime
    line: int | None = Field(description="the line of the car park's list")
    session_id: str | None = Field(description="the platform's stay")


class StayComparisonRead(BaseModel):
    lot_id: str
    day: date
    list_entries: int
    list_exits: int
    platform_entries: int
    platform_exits: int
    matched: int
    platform_only: list[PassageRead] = Field(description="passages the platform recorded and the list lacks")
    list_only: list[PassageRead] = Field(description="passages the list has and the platform lacks")


def _reconciliation(platform) -> DayReconciliation:  # noqa: ANN001
    return DayReconciliation(platform.uow, platform.clock)


def _resolutions(platform) -> Resolutions:  # noqa: ANN001
    billing = getattr(platform, "billing", None)
    return Resolutions(platform.uow, platform.clock, getattr(billing, "alipay", None))


def _stay_lists(platform) -> StayLists:  # noqa: ANN001
    from datetime import timedelta

    from parking_core.retention import load_retention_settings, plate_hash_key

    return StayLists(platform.uow, platform.clock, timedelta(seconds=reconciliation_settings(platform).stay_list_tolerance_s),
                     plate_key=lambda: plate_hash_key(load_retention_settings(), platform.settings.data_dir))


def _day_read(record: ReconciliationDay, counts: dict[str, int], city: bool) -> DayRead:
    return DayRead(day=record.day, status=record.status, bill_lines=record.bill_lines, matched=record.matched,
                   alipay_net_fen=record.alipay_net_fen if city else None, ours_net_fen=record.ours_net_fen if city else None,
                   service_fee_fen=record.service_fee_fen if city else None, runs=record.runs, last_run_at=record.last_run_at,
                   closed_at=record.closed_at, cases=CaseCounts(**counts))


def case_read(c: ReconciliationCase) -> CaseRead:
    read = CaseRead.model_validate(c, from_attributes=True)
    read.actions = ([] if c.status == "resolved" else ["approve_write_off"] if c.status == "awaiting_approval"
                    else list(ALLOWED[c.kind]))
    return read


@router.get("/months/{month}", response_model=MonthRead, responses={
    **AUTH, 422: {"model": ErrorBody, "description": "not a month like 2026-11"}})
def month_days(month: str, p: OperatorPrincipal, platform: PlatformDep) -> MonthRead:
    """The month's reconciled days (month like 2026-11), newest first, each with its status and the count of the cases
    you may see. (A month, not a bare list under /reconciliation/: /reconciliation/{day} is the older report.)"""
    first, last = month_bounds(month)
    operators = readable_operators(p, platform)
    with platform.uow() as uow:
        db = uow.session
        records = list(db.scalars(select(ReconciliationDay).where(ReconciliationDay.day.between(first, last))
                                  .order_by(ReconciliationDay.day.desc())))
        q = (select(ReconciliationCase.day, ReconciliationCase.status, func.count())
             .where(ReconciliationCase.day.between(first, last)))
        if operators is not None:
            q = q.where(ReconciliationCase.operator_id.in_(sorted(operators)))
        counts: dict[date, dict[str, int]] = {}
        for day, status, n in db.execute(q.group_by(ReconciliationCase.day, ReconciliationCase.status)):
            counts.setdefault(day, {})[status] = n
        return MonthRead(month=first.strftime("%Y-%m"), days=[_day_read(r, counts.get(r.day, {}), operators is None) for r in records])


@router.get("/days/{day}", response_model=DayRead, responses={**AUTH, 404: {"model": ErrorBody, "description": "not reconciled yet"}})
def get_day(day: date, p: OperatorPrincipal, platform: PlatformDep) -> DayRead:
    """The day's status and the count of the cases you may see."""
    service, operators = _reconciliation(platform), readable_operators(p, platform)
    return _day_read(service.day(day), service.case_counts(day, operators=operators), operators is None)


@router.post("/days/{day}/run", response_model=DayRead, responses={
    **AUTH, 403: {"model": ErrorBody, "description": "only the city runs a day (it covers every operator)"},
    422: {"model": ErrorBody, "description": "Alipay's bill was rejected (each bad line named); nothing was changed"},
    502: {"model": ErrorBody, "description": "Alipay refused (e.g. the bill does not exist yet: bills are T+1)"},
    503: {"model": ErrorBody, "description": "Alipay not configured or unreachable"}})
def run_day(day: date, p: OperatorPrincipal, platform: PlatformDep) -> DayRead:
    """Fetch the day's bill and reconcile it now (the platform also does it daily); running it again finds the same cases."""
    if p.kind != "city":
        raise Forbidden("day: only the city runs a day's reconciliation (it covers every operator)", field="day", value=day.isoformat())
    require_role(p, "staff", what="day", value=day.isoformat())
    client = getattr(getattr(platform, "billing", None), "alipay", None)
    if client is None:
        raise DependencyUnavailable("Alipay is not configured: no bill to reconcile with", field="ALIPAY_APP_ID")
    record = reconcile_bill_day(platform.uow, platform.clock, client, day, actor=p)
    return _day_read(record, _reconciliation(platform).case_counts(day, operators=None), True)


@router.get("/days/{day}/cases", response_model=CaseList, responses=AUTH)
def list_cases(day: date, p: OperatorPrincipal, platform: PlatformDep, page: PageDep,
               status: Literal["open", "awaiting_approval", "resolved"] | None = Query(None)) -> CaseList:
    """The day's cases you may see (an operator: its own car parks' orders), by kind and key."""
    found = _reconciliation(platform).cases(day, operators=readable_operators(p, platform), status=status)
    shown = found[page.offset:page.offset + page.limit]
    return CaseList(day=day, cases=[case_read(c) for c in shown], next_offset=page.next_offset(len(shown)))


@router.get("/cases/{case_id}", response_model=CaseRead, responses=CASE)
def get_case(case_id: str, p: OperatorPrincipal, platform: PlatformDep) -> CaseRead:
    return case_read(_resolutions(platform).case(case_id, operators=readable_operators(p, platform)))


@router.post("/cases/{case_id}/resolve", response_model=CaseRead, responses=CASE)
def resolve(case_id: str, body: ResolveBody, p: OperatorPrincipal, platform: PlatformDep) -> CaseRead:
    """One step of a case's resolution; each is in the audit log. Repeating the step that resolved it changes nothing."""
    service, operators = _resolutions(platform), readable_operators(p, platform)
    service.case(case_id, operators=operators)  # 404 before 403: no existence leak
    require_role(p, role_needed(body.action), what="case_id", value=case_id)
    return case_read(service.resolve(case_id, action=body.action, actor=p, operators=operators, reason=body.reason))


@router.put("/stay-lists/{lot_id}/{day}", response_model=StayListStored, status_code=201, responses={
    **AUTH, 404: {"model": ErrorBody, "description": "no such car park (or not yours)"},
    422: {"model": ErrorBody, "description": "a bad line (each named in details.errors); nothing stored"}},
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example":
                   "direction,plate,time\nin,苏E12345,2026-11-23T08:01:00+08:00\nout,苏E12345,2026-11-23T10:40:00+08:00\n"}}}})
async def put_stay_list(lot_id: str, day: date, request: Request, p: OperatorPrincipal, platform: PlatformDep) -> StayListStored:
    """The car park's own list of the day's passages (CSV: direction,plate,time); replaces the one sent before."""
    lot = lot_for_action(p, platform, lot_id)
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"body: a stay list is UTF-8 text; byte {exc.start} is not", field="body", value=exc.start) from None
    row = await run_in_threadpool(_stay_lists(platform).store, lot_id, day, text, sent_by=p,
                                  operator_id=lot.operator)
    return StayListStored(lot_id=row.lot_id, day=row.day, entries=row.entries, exits=row.exits, sent_by=row.sent_by, sent_at=row.sent_at)


@router.get("/stay-lists/{lot_id}/{day}", response_model=StayComparisonRead, responses={
    **AUTH, 404: {"model": ErrorBody, "description": "no such car park (or not yours), or no list sent for the day"}})
def compare_stay_list(lot_id: str, day: date, p: OperatorPrincipal, platform: PlatformDep) -> StayComparisonRead:
    """The car park's list against the platform's stays: every passage one side lacks, named."""
    lot_for_read(p, platform, lot_id)
    c: StayComparison = _stay_lists(platform).compare(lot_id, day)
    return StayComparisonRead(
        lot_id=c.lot_id, day=c.day, list_entries=c.list_entries, list_exits=c.list_exits, platform_entries=c.platform_entries,
        platform_exits=c.platform_exits, matched=c.matched,
        platform_only=[PassageRead(**vars(x)) for x in c.platform_only], list_only=[PassageRead(**vars(x)) for x in c.list_only])


def include(app: FastAPI) -> None:
    """The router, and the daily run of yesterday's bill while the app is up (PARKING_RECONCILE_HOUR; -1: never)."""
    app.include_router(router)

    def start() -> None:
        platform = app.state.platform
        hour = reconciliation_settings(platform).reconcile_hour
        daily = DailyReconciliation(uow=platform.uow, clock=platform.clock, hour=hour,
                                    client=lambda: getattr(getattr(platform, "billing", None), "alipay", None))
        app.state.daily_reconciliation = daily.start()

    def stop() -> None:
        daily = getattr(app.state, "daily_reconciliation", None)
        if daily is not None:
            daily.stop()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)
