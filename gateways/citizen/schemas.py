"""Response shapes of the citizen gateway (contract section 4), apart from ORM models."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateways.http.errors import ErrorBody  # noqa: F401 (re-exported for the citizen routers)

Status = Literal["spacesAvailable", "almostFull", "full", "closed", "unknown"]


class LotRead(BaseModel):
    id: str
    name: str
    kind: Literal["on_street", "off_street"]
    lat: float
    lon: float
    free: int
    total: int
    status: Status
    updated_at: datetime | None
    berths_known: int | None = Field(
        None, description="lots with berth sensors: berths whose state is known now (free and status are judged on these "
        "only, and the status is unknown while fewer than PARKING_MIN_KNOWN_SHARE of the berths are known); null without berth sensors",
    )


class NearbyLot(LotRead):
    distance_m: float


class LotDetail(LotRead):
    operator: str
    district: str
    tariff: str | None
    shared_hours: str | None = None
    berth_sensors: bool = False


class NearbyList(BaseModel):
    lots: list[NearbyLot]
    next_offset: int | None = Field(None, description="pass as `offset` for the next, farther car parks; null on the last page")


class BerthRead(BaseModel):
    id: str
    status: Literal["free", "occupied", "unknown", "closed"]
    since: datetime | None


class BerthList(BaseModel):
    berths: list[BerthRead]


