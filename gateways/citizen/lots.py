"""Citizen gateway (contract section 4): where are free spaces, and how many."""
from __future__ import annotations

from itertools import islice

from fastapi import APIRouter, Query, Response

from gateways.citizen.schemas import BerthList, BerthRead, ErrorBody, LotDetail, NearbyList
from gateways.http.answer import json_answer, json_data
from gateways.http.coords import CoordDep, coord_out, wgs84_in
from gateways.http.deps import PlatformDep
from parking_core.availability import Availability, AvailabilityRules, read_availability, read_lot_now
from parking_core.lots import LotInfo

router = APIRouter(prefix="/v1", tags=["citizen"])
NOT_FOUND = {404: {"model": ErrorBody, "description": "unknown lot id"}}


def _fields(info: LotInfo, a: Availability) -> dict:
    return {
        "id": info.id, "name": info.name, "kind": info.kind, "lat": info.lat, "lon": info.lon,
        "free": a.free, "total": a.total, "status": a.status, "updated_at": a.updated_at, "berths_known": a.berths_known,
    }


@router.get("/lots/nearby", response_model=NearbyList)
async def nearby(
    platform: PlatformDep,
    coord: CoordDep,
    lat: float = Query(ge=-90, le=90, description="latitude, in the `coord` system (WGS 84 by default)"),
    lon: float = Query(ge=-180, le=180, description="longitude, in the `coord` system (WGS 84 by default)"),
    radius_m: float = Query(1000, ge=0, le=50_000),
    min_free: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=50_000, description="car parks to skip: the previous answer's next_offset"),
) -> Response:
    """Car parks within the radius, nearest first, with their live availability; `next_offset` (null on the last page)
    asks for the next ones. Async: a few microseconds of search and one live-state read, cheaper on the event loop
    than a trip to the thread pool."""
    lat, lon = wgs84_in(coord, lat, lon)  # distances are measured in WGS-84
    found = platform.directory.nearest(lat, lon, radius_m)  # lazy: exact distances only for the lots taken
    rules = AvailabilityRules.from_settings(platform.settings)
    now, out = platform.clock(), []
    # live state is read only for lots that may be returned: `limit` of them, or chunks while min_free filters
    want = offset + limit
    chunk = want if min_free == 0 else max(want, 50)
    while len(out) < want and (batch := list(islice(found, chunk))):
        distance = {info.id: d for d, info in batch}
        for info, a in read_availability(platform.directory.lots, platform.live, list(distance), now, rules):
            if a.free < min_free:
                continue
            out.append({**_fields(info, a), "distance_m": round(distance[info.id], 1)})  # NearbyLot's fields, in order
            if len(out) >= want:
                break
    shown = out[offset:]
    return json_data(coord_out(coord, {"lots": shown, "next_offset": offset + limit if len(shown) == limit else None}))


@router.get("/lots/{lot_id}", response_model=LotDetail, responses=NOT_FOUND)
async def lot_detail(lot_id: str, platform: PlatformDep, coord: CoordDep) -> Response:
    """One car park now (async, as `nearby`: one live-state read)."""
    info, _, a = read_lot_now(platform.directory, platform.live, lot_id, platform.clock(), AvailabilityRules.from_settings(platform.settings))
    row = coord_out(coord, _fields(info, a))
    return json_answer(LotDetail(
        **row, operator=info.operator, district=info.district, tariff=info.tariff,
        shared_hours=str(info.shared_hours) if info.shared_hours else None, berth_sensors=info.has_sensors,
    ))


@router.get("/lots/{lot_id}/berths", response_model=BerthList, responses=NOT_FOUND)
def lot_berths(lot_id: str, platform: PlatformDep) -> dict:
    """Each berth's state; all `closed` while the lot is outside its shared hours."""
    info = platform.directory.require(lot_id)
    is_open = info.open_at(platform.clock())
    return {"berths": [
        BerthRead(id=b.id, status=b.status if is_open else "closed", since=b.since) for b in platform.live.berths(lot_id)
    ]}
