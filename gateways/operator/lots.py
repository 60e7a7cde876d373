"""Operator gateway: your car parks with their availability now, their devices (silent, low battery, last heard)
and their occupancy history."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, lot_for_read, readable_lots, scope_clause
from gateways.operator.settings import operator_settings
from parking_core.availability import AvailabilityRules, read_availability
from parking_core.db import kept
from parking_core.history import MAX_RANGE, MIN_STEP_S, history
from parking_core.models import Device

router = APIRouter(prefix="/v1/operator", tags=["operator car parks"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
LOT = {**AUTH, 404: {"model": ErrorBody, "description": "no such car park (or not yours)"}}


class DeviceRead(BaseModel):
    lot_id: str
    id: str
    last_heard: datetime | None = Field(description="its last heartbeat; null: never heard")
    battery_mv: int | None
    silent: bool = Field(description="nothing heard for PARKING_HEARTBEAT_TIMEOUT_S, or never")
    low_battery: bool = Field(description="battery below PARKING_LOW_BATTERY_MV")


class OperatorLot(BaseModel):
    id: str
    name: str
    kind: str
    operator: str
    district: str
    total: int
    tariff: str | None
    free: int
    status: str
    updated_at: datetime | None
    devices: int
    silent_devices: int
    low_battery_devices: int


class OperatorLotList(BaseModel):
    lots: list[OperatorLot]
    next_offset: int | None = None


class DeviceList(BaseModel):
    devices: list[DeviceRead]
    next_offset: int | None = None


class OccupancyPoint(BaseModel):
    ts: datetime
    free: int
    total: int
    status: str


class Occupancy(BaseModel):
    lot_id: str
    now: OccupancyPoint
    in_force_at_from: OccupancyPoint | None
    points: list[OccupancyPoint]


def _devices(platform, lot_ids: list[str]) -> dict[str, list[DeviceRead]]:  # noqa: ANN001
    """Each lot's devices: every one that sent a heartbeat, and each sensor berth never heard from."""
    s = operator_settings(platform)
    now = platform.clock()
    silent_before = now - timedelta(seconds=platform.settings.heartbeat_timeout_s)
    out: dict[str, list[DeviceRead]] = {lot: [] for lot in lot_ids}
    with platform.uow() as uow:
        rows = kept(uow.session, uow.session.scalars(select(Device).where(Device.lot_id.in_(lot_ids))
                                                     .order_by(Device.lot_id, Device.id)).all())
    for d in rows:
        out[d.lot_id].append(DeviceRead(lot_id=d.lot_id, id=d.id, last_heard=d.last_seen_at, battery_mv=d.battery_mv,
                                        silent=d.last_seen_at < silent_before,
                                        low_battery=d.battery_mv is not None and d.battery_mv < s.low_battery_mv))
    for lot_id in lot_ids:
        heard = {d.id for d in out[lot_id]}
        info = platform.directory.get(lot_id)
        out[lot_id] += [DeviceRead(lot_id=lot_id, id=b, last_heard=None, battery_mv=None, silent=True, low_battery=False)
                        for b in (info.berths if info else ()) if b not in heard]
        out[lot_id].sort(key=lambda d: d.id)
    return out


@router.get("/lots", response_model=OperatorLotList, responses=AUTH)
def lots(p: OperatorPrincipal, platform: PlatformDep, page: PageDep,
         district: str | None = None, status: str | None = None) -> OperatorLotList:
    """Your car parks by id, with free berths and status now and how many devices are silent or low on battery."""
    allowed = readable_lots(p, platform)
    ids = sorted(i for i, lot in platform.directory.lots.items()
                 if (allowed is None or i in allowed) and (district is None or lot.district == district))
    rules = AvailabilityRules.from_settings(platform.settings)
    now_rows = list(read_availability(platform.directory.lots, platform.live, ids, platform.clock(), rules))
    if status is not None:
        now_rows = [(info, a) for info, a in now_rows if a.status == status]
    shown = now_rows[page.offset:page.offset + page.limit]
    devices = _devices(platform, [info.id for info, _ in shown])
    return OperatorLotList(lots=[OperatorLot(
        id=info.id, name=info.name, kind=info.kind, operator=info.operator, district=info.district, total=info.total,
        tariff=info.tariff, free=a.free, status=a.status, updated_at=a.updated_at, devices=len(devices[info.id]),
        silent_devices=sum(d.silent for d in devices[info.id]), low_battery_devices=sum(d.low_battery for d in devices[info.id]))
        for info, a in shown], next_offset=page.next_offset(len(shown)))


@router.get("/lots/{lot_id}/devices", response_model=DeviceList, responses=LOT)
def lot_devices(lot_id: str, p: OperatorPrincipal, platform: PlatformDep,
                problem: Literal["silent", "low_battery"] | None = None) -> DeviceList:
    """A car park's devices with when each was last heard and its battery."""
    lot_for_read(p, platform, lot_id)
    found = _devices(platform, [lot_id])[lot_id]
    return DeviceList(devices=[d for d in found if problem is None or getattr(d, problem)])


@router.get("/devices", response_model=DeviceList, responses=AUTH)
def devices(p: OperatorPrincipal, platform: PlatformDep, page: PageDep,
            problem: Literal["silent", "low_battery"] | None = Query(None, description="only devices with this problem")) -> DeviceList:
    """Devices of all your car parks that have sent a heartbeat (berths never heard: per car park), by car park and id."""
    s = operator_settings(platform)
    now = platform.clock()
    silent_before = now - timedelta(seconds=platform.settings.heartbeat_timeout_s)
    q = select(Device)
    if (cond := scope_clause(p, platform, lot_column=Device.lot_id)) is not None:
        q = q.where(cond)
    if problem == "silent":
        q = q.where(Device.last_seen_at < silent_before)
    elif problem == "low_battery":
        q = q.where(Device.battery_mv < s.low_battery_mv)
    with platform.uow() as uow:
        rows = uow.session.scalars(q.order_by(Device.lot_id, Device.id).offset(page.offset).limit(page.limit)).all()
        out = [DeviceRead(lot_id=d.lot_id, id=d.id, last_heard=d.last_seen_at, battery_mv=d.battery_mv,
                          silent=d.last_seen_at < silent_before,
                          low_battery=d.battery_mv is not None and d.battery_mv < s.low_battery_mv) for d in rows]
    return DeviceList(devices=out, next_offset=page.next_offset(len(out)))


@router.get("/lots/{lot_id}/occupancy", response_model=Occupancy, responses={**LOT, 422: {"model": ErrorBody}})
def occupancy(lot_id: str, p: OperatorPrincipal, platform: PlatformDep,
              start: datetime | None = Query(None, alias="from", description="RFC 3339; default: a day before `to`"),
              end: datetime | None = Query(None, alias="to", description="RFC 3339; default: now"),
              step: int | None = Query(None, ge=MIN_STEP_S, le=int(MAX_RANGE.total_seconds()),
                                       description="seconds: the value in force every step; absent: every change")) -> Occupancy:
    """Free berths now and as they changed (at most 31 days; the same limits as /v1/lots/{id}/history)."""
    info = lot_for_read(p, platform, lot_id)
    now = platform.clock()
    end = end or now
    start = start or end - timedelta(days=1)
    if start.tzinfo is not None and end.tzinfo is not None:
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    (_, a), = read_availability(platform.directory.lots, platform.live, [lot_id], now,
                                AvailabilityRules.from_settings(platform.settings))
    with platform.uow() as uow:
        h = history(uow.session, lot_id, start, end, step_s=step, total=info.total, now=now)
    point = lambda x: OccupancyPoint(ts=x.ts, free=x.free, total=x.total, status=x.status)  # noqa: E731
    return Occupancy(lot_id=lot_id, now=OccupancyPoint(ts=a.updated_at or now, free=a.free, total=a.total, status=a.status),
                     in_force_at_from=point(h.in_force_at_start) if h.in_force_at_start else None,
                     points=[point(x) for x in h.points])
