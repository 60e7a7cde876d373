"""Operator gateway: daily figures per car park (Shanghai days): stays, revenue, average stay, occupancy by hour
and turnover. Money is what Alipay paid that day less what was refunded that day, as settlement counts it."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import Order, Payment, Refund
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, lot_for_read, readable_lots
from parking_core.clock import SHANGHAI
from parking_core.errors import InvalidInput
from parking_core.history import history
from parking_core.session_models import ParkingSession

router = APIRouter(prefix="/v1/operator", tags=["operator car parks"])
MAX_DAYS = 31


class DayFigures(BaseModel):
    lot_id: str
    day: date
    stays_entered: int
    stays_closed: int
    average_stay_min: float | None = Field(description="of the stays that ended that day")
    payments_fen: int
    refunds_fen: int
    revenue_fen: int = Field(description="payments less refunds that day")
    turnover: float = Field(description="stays that ended that day per berth")
    occupancy_by_hour: list[float | None] | None = Field(
        None, description="share of berths taken at the start of each hour 00-23 (null: unknown then); per car park only")


class LotFigures(BaseModel):
    lot_id: str
    days: list[DayFigures]


class FiguresList(BaseModel):
    day: date
    lots: list[DayFigures]
    next_offset: int | None = None


def bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


def day_figures(db: Session, lots: dict[str, int], day: date) -> dict[str, DayFigures]:
    """Figures of one day for these car parks (id -> berths), in three grouped queries: the stays that entered or
    ended that day counted in one pass over the stays (not one pass each), then payments, then refunds."""
    start, end = bounds(day)
    ids = sorted(lots)
    S = ParkingSession
    entered_then = (S.entered_at >= start) & (S.entered_at < end)
    closed_then = (S.status == "closed") & (S.exited_at >= start) & (S.exited_at < end)
    stays = {lot: (entered, closed, secs) for lot, entered, closed, secs in db.execute(
        select(S.lot_id, func.count().filter(entered_then), func.count().filter(closed_then),
               func.sum(_seconds(db, S.exited_at, S.entered_at)).filter(closed_then))
        .where(S.lot_id.in_(ids), entered_then | ((S.exited_at >= start) & (S.exited_at < end))).group_by(S.lot_id)).all()}
    paid = dict(db.execute(select(Order.lot_id, func.sum(Payment.amount_fen)).join(Order, Order.id == Payment.order_id)
                           .where(Order.lot_id.in_(ids), Payment.paid_at >= start, Payment.paid_at < end).group_by(Order.lot_id)).all())
    refunded = dict(db.execute(select(Order.lot_id, func.sum(Refund.amount_fen)).join(Order, Order.id == Refund.order_id)
                               .where(Order.lot_id.in_(ids), Refund.status == "succeeded", Refund.completed_at >= start,
                                      Refund.completed_at < end).group_by(Order.lot_id)).all())
    out = {}
    for lot in ids:
        n_entered, n_closed, secs = stays.get(lot, (0, 0, None))
        pay, ref = int(paid.get(lot) or 0), int(refunded.get(lot) or 0)
        out[lot] = DayFigures(lot_id=lot, day=day, stays_entered=int(n_entered), stays_closed=int(n_closed),
                              average_stay_min=round(float(secs) / n_closed / 60, 1) if n_closed and secs is not None else None,
                              payments_fen=pay, refunds_fen=ref, revenue_fen=pay - ref,
                              turnover=round(n_closed / lots[lot], 3) if lots[lot] else 0.0)
    return out


def _seconds(db: Session, later, earlier):  # noqa: ANN001, ANN202
    """later - earlier in seconds, on PostgreSQL and SQLite."""
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86_400


def occupancy_by_hour(db: Session, lot_id: str, total: int, day: date, now: datetime) -> list[float | None]:
    start, end = bounds(day)
    h = history(db, lot_id, start, min(end, now) if start < now else end, step_s=3600, total=total, now=now)
    by_hour: list[float | None] = [None] * 24
    for point in h.points:
        hour = int((point.ts - start).total_seconds() // 3600)
        if 0 <= hour < 24 and point.status != "unknown" and point.total:
            by_hour[hour] = round((point.total - point.free) / point.total, 3)
    return by_hour


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise InvalidInput(f"to: {end} is before from {start}", field="to", value=end.isoformat())
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"to: at most {MAX_DAYS} days at a time", field="to", value=end.isoformat())
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@router.get("/lots/{lot_id}/figures", response_model=LotFigures,
            responses={404: {"model": ErrorBody, "description": "no such car park (or not yours)"}, 422: {"model": ErrorBody}})
def lot_figures(lot_id: str, p: OperatorPrincipal, platform: PlatformDep,
                start: date | None = Query(None, alias="from", description="first Shanghai day; default: yesterday"),
                end: date | None = Query(None, alias="to", description=f"last day (inclusive, at most {MAX_DAYS} days)")) -> LotFigures:
    """A car park's figures day by day, with its occupancy at each hour."""
    info = lot_for_read(p, platform, lot_id)
    now = platform.clock()
    start = start or (now.astimezone(SHANGHAI).date() - timedelta(days=1))
    days = _days(start, end or start)
    out = []
    with platform.uow() as uow:
        for day in days:
            f = day_figures(uow.session, {lot_id: info.total}, day)[lot_id]
            f.occupancy_by_hour = occupancy_by_hour(uow.session, lot_id, info.total, day, now)
            out.append(f)
    return LotFigures(lot_id=lot_id, days=out)


@router.get("/figures", response_model=FiguresList, responses={422: {"model": ErrorBody}})
def figures(p: OperatorPrincipal, platform: PlatformDep, page: PageDep,
            day: date | None = Query(None, description="a Shanghai day; default: today")) -> FiguresList:
    """One day's figures for each of your car parks, by id (occupancy by hour: per car park)."""
    now = platform.clock()
    day = day or now.astimezone(SHANGHAI).date()
    allowed = readable_lots(p, platform)
    ids = sorted(i for i in platform.directory.lots if allowed is None or i in allowed)[page.offset:page.offset + page.limit]
    with platform.uow() as uow:
        found = day_figures(uow.session, {i: platform.directory.lots[i].total for i in ids}, day) if ids else {}
    return FiguresList(day=day, lots=[found[i] for i in ids], next_offset=page.next_offset(len(ids)))
