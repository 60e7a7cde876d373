"""Response shapes of guidance, forecasts and history, apart from the domain's dataclasses."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateways.citizen.schemas import Status


class LotNow(BaseModel):
    free: int
    total: int
    status: Status
    updated_at: datetime | None
    berths_known: int | None = Field(None, description="lots with berth sensors: berths whose state is known now; null without")


class ForecastPoint(BaseModel):
    horizon_min: int
    at: datetime
    free: int = Field(description="expected free spaces")
    low: int = Field(description="about 80 % of past errors at this horizon left the count between low and high")
    high: int
    confidence: float = Field(ge=0, le=1, description="1 - expected absolute error / (20 % of capacity); low with little history")
    basis: str = Field(description="what the forecast rests on")


class LotForecast(BaseModel):
    lot_id: str
    now: LotNow
    forecasts: list[ForecastPoint]


class HistoryPoint(BaseModel):
    ts: datetime
    free: int
    total: int
    status: Status


class LotHistory(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    lot_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    step: int | None = Field(description="seconds between points; null: every change")
    in_force_at_from: HistoryPoint | None = Field(description="the last change before `from`, where a chart starts")
    points: list[HistoryPoint]


class GuidanceLot(BaseModel):
    id: str
    name: str
    kind: Literal["on_street", "off_street"]
    lat: float
    lon: float
    distance_m: float
    free_now: int
    total: int
    status: Status
    updated_at: datetime | None
    stale: bool = Field(description="no fresh data (nothing heard within the heartbeat timeout, too few berths known, "
                              "status unknown): ranked below every fresh lot with space; the reasons say why it is shown")
    berths_known: int | None = Field(None, description="lots with berth sensors: berths whose state is known now; null without")
    predicted_free_at_arrival: int
    predicted_low: int
    predicted_high: int
    confidence: float
    forecast_basis: str
    expected_price_fen: int | None = Field(description="the stay's fee under the lot's tariff; null without one")
    tariff: str | None
    score: float = Field(description="0..100, the sum of score_parts; see docs/guidance.md")
    score_parts: dict[str, float]
    reasons: list[str]


class GuidanceList(BaseModel):
    arrive_at: datetime
    stay_min: int
    vehicle: Literal["small", "large", "nev"]
    lots: list[GuidanceLot]
