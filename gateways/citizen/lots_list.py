"""The whole city at once, for a map: every car park with its live availability, page by page."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateways.bootstrap import Platform
from gateways.citizen.schemas import LotRead
from gateways.http.coords import CoordDep, coord_out
from gateways.http.deps import PlatformDep
from parking_core.availability import Availability, AvailabilityRules, read_availability
from parking_core.lots import LotInfo

router = APIRouter(prefix="/v1", tags=["citizen"])


class CityLot(LotRead):
    district: str
    operator: str


class CityPage(BaseModel):
    lots: list[CityLot]
    next: str | None = Field(description="pass as `after` to read the next page; null on the last page")


def current(platform: Platform, lot_ids: Sequence[str]) -> list[tuple[LotInfo, Availability]]:
    """Registry entry and availability now of each known lot, in the order given."""
    rules = AvailabilityRules.from_settings(platform.settings)
    return list(read_availability(platform.directory.lots, platform.live, list(lot_ids), platform.clock(), rules))


@router.get("/lots", response_model=CityPage)
def all_lots(
    platform: PlatformDep,
    coord: CoordDep,
    after: str | None = Query(None, description="the last id of the previous page"),
    limit: int = Query(1000, ge=1, le=5000),
) -> dict:
    """Every car park in id order with its live fields; follow `next` until it is null."""
    ids = sorted(platform.directory.lots)
    start = bisect_right(ids, after) if after is not None else 0
    page = ids[start:start + limit]
    lots = [
        CityLot(
            id=info.id, name=info.name, kind=info.kind, lat=info.lat, lon=info.lon, district=info.district,
            operator=info.operator, free=a.free, total=a.total, status=a.status, updated_at=a.updated_at,
            berths_known=a.berths_known,
        )
        for info, a in current(platform, page)
    ]
    more = start + limit < len(ids)
    return coord_out(coord, {"lots": lots, "next": page[-1] if more and page else None})
