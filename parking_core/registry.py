"""Import the city registry (contract section 1): a GeoJSON FeatureCollection of car parks.

The whole file is validated before anything is written; one bad feature rejects it with
the feature index and the field named, and a second import updates lots in place.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, select

from parking_core.clock import utcnow
from parking_core.errors import InvalidInput
from parking_core.lots import LotInfo, SharedHours
from parking_core.models import Berth, District, Lot, Operator

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class LotProperties(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Id
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["on_street", "off_street"]
    operator: str = Id
    district: str = Field(min_length=1, max_length=64)
    total: int = Field(ge=0, le=100_000)
    berths: list[str] | None = None
    tariff: str | None = Field(default=None, min_length=1, max_length=64)
    shared_hours: str | None = None

    @field_validator("berths")
    @classmethod
    def _berths(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        seen: set[str] = set()
        for i, b in enumerate(v):
            if not isinstance(b, str) or not b or len(b) > 64 or any(c in b for c in "/+#"):
                raise ValueError(f"berths[{i}] {b!r} is not a berth id")
            if b in seen:
                raise ValueError(f"berths[{i}] {b!r} is listed twice")
            seen.add(b)
        return v

    @field_validator("shared_hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is not None:
            SharedHours.parse(v)
        return v

    @model_validator(mode="after")
    def _total_covers_berths(self) -> "LotProperties":
        if self.berths is not None and len(self.berths) > self.total:
            raise ValueError(f"total {self.total} is less than the {len(self.berths)} berths listed")
        return self


class PointGeometry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["Point"]
    coordinates: tuple[float, float] | tuple[float, float, float]

    @field_validator("coordinates")
    @classmethod
    def _wgs84(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        lon, lat = v[0], v[1]
        if not -180 <= lon <= 180:
            raise ValueError(f"longitude {lon} is outside -180..180")
        if not -90 <= lat <= 90:
            raise ValueError(f"latitude {lat} is outside -90..90")
        return v


class Feature(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: LotProperties


def _loc(err: dict[str, Any]) -> str:
    parts = [p for p in err["loc"] if p not in ("function-after",)]
    return ".".join(str(p) for p in parts)


def parse_registry(data: bytes | str | dict, *, tariffs: Collection[str] | None = None) -> list[LotInfo]:
    """Validate a FeatureCollection and return its lots, or raise InvalidInput naming feature and field.

    With `tariffs` (the ids of the tariff catalog) a car park naming a tariff that is not there is
    rejected too: its stays would otherwise become orders of 0 fen."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"registry is not JSON: {exc}", field="file") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InvalidInput("registry must be a GeoJSON FeatureCollection", field="type", value=(data or {}).get("type") if isinstance(data, dict) else None)
    features = data.get("features")
    if not isinstance(features, list):
        raise InvalidInput("registry has no features list", field="features")
    lots: list[LotInfo] = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(features):
        try:
            f = Feature.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = _loc(err)
            raise InvalidInput(
                f"features[{i}].{where}: {err['msg']} (got {err.get('input')!r})",
                field=f"features[{i}].{where}",
                value=err.get("input"),
            ) from None
        p = f.properties
        if p.id in ids:
            raise InvalidInput(f"features[{i}].properties.id: {p.id!r} repeats features[{ids[p.id]}]", field=f"features[{i}].properties.id", value=p.id)
        ids[p.id] = i
        if tariffs is not None and p.tariff is not None and p.tariff not in tariffs:
            known = ", ".join(sorted(tariffs)) or "none"
            raise InvalidInput(f"features[{i}].properties.tariff: {p.tariff!r} is not a tariff of PARKING_TARIFFS (known: {known})",
                               field=f"features[{i}].properties.tariff", value=p.tariff)
        lon, lat = f.geometry.coordinates[0], f.geometry.coordinates[1]
        lots.append(
            LotInfo(
                id=p.id, name=p.name, kind=p.kind, operator=p.operator, district=p.district,
                lat=lat, lon=lon, total=p.total, berths=tuple(p.berths or ()), tariff=p.tariff,
                shared_hours=SharedHours.parse(p.shared_hours) if p.shared_hours else None,
            )
        )
    return lots


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    berths: int


def save_registry(session, lots: list[LotInfo]) -> ImportResult:
    """Upsert lots, their operators, districts and berths in the caller's transaction."""
    now = utcnow()
    existing = {lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_([x.id for x in lots])))} if lots else {}
    known_ops = set(session.scalars(select(Operator.id)))
    known_districts = set(session.scalars(select(District.id)))
    created = updated = berth_count = 0
    for info in lots:
        if info.operator not in known_ops:
            session.add(Operator(id=info.operator, name=info.operator))
            known_ops.add(info.operator)
        if info.district not in known_districts:
            session.add(District(id=info.district, name=info.district))
            known_districts.add(info.district)
    session.flush()
    for info in lots:
        row = existing.get(info.id)
        values = dict(
            name=info.name, kind=info.kind, operator_id=info.operator, district_id=info.district,
            lat=info.lat, lon=info.lon, total=info.total, tariff_id=info.tariff,
            shared_hours=str(info.shared_hours) if info.shared_hours else None, updated_at=now,
        )
        if row is None:
            session.add(Lot(id=info.id, **values))
            created += 1
        else:
            for k, v in values.items():
                setattr(row, k, v)
            updated += 1
    session.flush()
    ids = [x.id for x in lots]
    for chunk_start in range(0, len(ids), 500):
        session.execute(delete(Berth).where(Berth.lot_id.in_(ids[chunk_start:chunk_start + 500])))
    rows = [{"lot_id": info.id, "id": b} for info in lots for b in info.berths]
    if rows:
        session.execute(Berth.__table__.insert(), rows)
    berth_count = len(rows)
    return ImportResult(created=created, updated=updated, berths=berth_count)


def load_lots(session) -> list[LotInfo]:
    """Every lot in the registry, with its berth ids; one still being commissioned (joined through the
    operator API, not every device heard yet) as a CommissioningLot, which readers see closed."""
    from parking_core.commissioning_lot import CommissioningLot
    from parking_core.commissioning_models import LotCommissioning

    berths: dict[str, list[str]] = {}
    for lot_id, berth_id in session.execute(select(Berth.lot_id, Berth.id).order_by(Berth.lot_id, Berth.id)):
        berths.setdefault(lot_id, []).append(berth_id)
    commissioning = set(session.scalars(select(LotCommissioning.lot_id).where(LotCommissioning.state == "commissioning")))
    return [
        (CommissioningLot if r.id in commissioning else LotInfo)(
            id=r.id, name=r.name, kind=r.kind, operator=r.operator_id, district=r.district_id,
            lat=r.lat, lon=r.lon, total=r.total, berths=tuple(berths.get(r.id, ())), tariff=r.tariff_id,
            shared_hours=SharedHours.parse(r.shared_hours) if r.shared_hours else None,
        )
        for r in session.scalars(select(Lot).order_by(Lot.id))
    ]
