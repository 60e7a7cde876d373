"""Citizen gateway, guidance: where to park for a destination, a lot's forecast, a lot's history."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from billing.quotes import quote_stay
from gateways.citizen.app_state import made_once
from gateways.citizen.guidance_schemas import ForecastPoint, GuidanceList, GuidanceLot, HistoryPoint, LotForecast, LotHistory, LotNow
from gateways.http.answer import json_answer
from gateways.http.coords import CoordDep, coord_out, wgs84_in
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from parking_core.availability import AvailabilityRules, read_lot_now
from parking_core.forecast import Forecaster, forecast_lot
from parking_core.guidance import Option, Trip, candidates, rank
from parking_core.history import MAX_RANGE, MIN_STEP_S, Point, history

router = APIRouter(prefix="/v1", tags=["guidance"])
NOT_FOUND = {404: {"model": ErrorBody, "description": "unknown lot id"}}
HORIZONS = (15, 30, 60)
REFRESH_S = 180.0  # a lot's forecasting state reads new log rows at most this often
GUIDANCE_WAIT_S = 0.5  # lots never read before: wait this long for them, then forecast without history
FORECAST_WAIT_S = 10.0


def forecaster_of(request: Request) -> Forecaster:
    """The app's forecaster, made on first use over the platform's database."""
    state = request.app.state
    return made_once(state, "forecaster", lambda: Forecaster.for_database(state.platform.session_factory, refresh_s=REFRESH_S))


async def _forecaster(request: Request) -> Forecaster:
    """`forecaster_of` as a dependency resolved on the event loop (making it reads nothing), not on the thread pool."""
    return forecaster_of(request)


ForecasterDep = Annotated[Forecaster, Depends(_forecaster)]


@router.get("/guidance", response_model=GuidanceList)
def guidance(
    platform: PlatformDep,
    forecaster: ForecasterDep,
    coord: CoordDep,
    lat: float = Query(ge=-90, le=90, description="destination latitude, in the `coord` system (WGS 84 by default)"),
    lon: float = Query(ge=-180, le=180, description="destination longitude, in the `coord` system (WGS 84 by default)"),
    arrive_in_min: int = Query(10, ge=0, le=120, description="minutes until the driver arrives"),
    vehicle: Literal["small", "large", "nev"] = Query("small", description="nev: a small new-energy vehicle"),
    max_walk_m: float = Query(800, gt=0, le=5000, description="furthest car park from the destination"),
    stay_min: int = Query(60, ge=1, le=10_080, description="planned stay, for the expected price"),
    limit: int = Query(10, ge=1, le=50),
) -> Response:
    """Car parks near a destination ranked by predicted space at arrival, walk, price and freshness, each with its reasons."""
    lat, lon = wgs84_in(coord, lat, lon)  # distances are measured in WGS-84
    now = platform.clock()
    trip = Trip(lat=lat, lon=lon, arrive_at=now + timedelta(minutes=arrive_in_min), stay=timedelta(minutes=stay_min),
                vehicle=vehicle, max_walk_m=max_walk_m)
    found = candidates(
        trip, directory=platform.directory, live=platform.live, forecaster=forecaster, price=partial(quote_stay, platform.tariffs), now=now,
        rules=AvailabilityRules.from_settings(platform.settings), wait_s=GUIDANCE_WAIT_S,
    )
    ranked = rank(found, max_walk_m=max_walk_m, stay=trip.stay, limit=limit)
    answer = GuidanceList(arrive_at=trip.arrive_at, stay_min=stay_min, vehicle=vehicle, lots=[_guidance_lot(o) for o in ranked])
    return json_answer(coord_out(coord, answer))


def _guidance_lot(o: Option) -> GuidanceLot:
    c = o.candidate
    info, p = c.info, c.at_arrival
    return GuidanceLot(
        id=info.id, name=info.name, kind=info.kind, lat=info.lat, lon=info.lon, distance_m=round(c.distance_m, 1),
        free_now=c.now.free, total=c.now.total, status=c.now.status, updated_at=c.now.updated_at, stale=c.stale,
        berths_known=c.now.berths_known,
        predicted_free_at_arrival=p.free, predicted_low=p.low, predicted_high=p.high, confidence=p.confidence,
        forecast_basis=p.basis, expected_price_fen=c.price_fen, tariff=info.tariff, score=o.score,
        score_parts=o.parts, reasons=list(o.reasons),
    )


@router.get("/lots/{lot_id}/forecast", response_model=LotForecast, responses=NOT_FOUND)
def lot_forecast(lot_id: str, platform: PlatformDep, forecaster: ForecasterDep) -> Response:
    """Expected free spaces in 15, 30 and 60 minutes, with an interval and a confidence."""
    now = platform.clock()
    rules = AvailabilityRules.from_settings(platform.settings)
    info, live, a = read_lot_now(platform.directory, platform.live, lot_id, now, rules)
    if info.has_sensors and a.status == "unknown":
        live = None  # too few berths known to be an observation of the lot: forecast from history alone
    forecaster.prepare([lot_id], now, wait_s=FORECAST_WAIT_S)
    timeout = rules.heartbeat_timeout_s
    points = []
    for h in HORIZONS:
        p = forecast_lot(forecaster, info, live, now, h, heartbeat_timeout_s=timeout)
        points.append(ForecastPoint(horizon_min=h, at=now + timedelta(minutes=h), free=p.free, low=p.low, high=p.high,
                                    confidence=p.confidence, basis=p.basis))
    now_ = LotNow(free=a.free, total=a.total, status=a.status, updated_at=a.updated_at, berths_known=a.berths_known)
    return json_answer(LotForecast(lot_id=lot_id, now=now_, forecasts=points))


@router.get("/lots/{lot_id}/history", response_model=LotHistory, responses=NOT_FOUND)
def lot_history(
    lot_id: str,
    platform: PlatformDep,
    start: datetime | None = Query(None, alias="from", description="RFC 3339 with offset; default: a day before `to`"),
    end: datetime | None = Query(None, alias="to", description="RFC 3339 with offset; default: now"),
    step: int | None = Query(None, ge=MIN_STEP_S, le=int(MAX_RANGE.total_seconds()),
                             description="seconds: the value in force every step; absent: every change"),
) -> LotHistory:
    """The lot's free count and status as they changed (at most 31 days, 10,000 changes or 5,000 steps)."""
    info = platform.directory.require(lot_id)
    now = platform.clock()
    end = end or now
    start = start or end - timedelta(days=1)
    if start.tzinfo is not None and end.tzinfo is not None:  # naive ones are refused by name below
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    with platform.uow() as uow:
        h = history(uow.session, lot_id, start, end, step_s=step, total=info.total, now=now)
    return LotHistory(
        lot_id=lot_id, from_=h.start, to=h.end, step=h.step_s,
        in_force_at_from=_point(h.in_force_at_start) if h.in_force_at_start else None,
        points=[_point(p) for p in h.points],
    )


def _point(p: Point) -> HistoryPoint:
    return HistoryPoint(ts=p.ts, free=p.free, total=p.total, status=p.status)
