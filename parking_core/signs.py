"""Guidance signs (诱导屏): which car parks each street sign shows, and what it shows now.

The sign file is validated whole before use; a bad sign is named by its index and field so
the person editing the file finds it. What a sign shows is computed from availability only:
no web or MQTT code here.
"""
from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from geopy.distance import great_circle
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parking_core.availability import Availability
from parking_core.errors import ConfigError, NotFound
from parking_core.lots import LotInfo

ARROWS = ("↑", "↗", "→", "↘", "↓", "↙", "←", "↖")  # relative to the sign's heading, clockwise
DISPLAY = {"full": "满", "closed": "关闭", "unknown": "--"}  # anything else shows the free count
COLOURS = {"spacesAvailable": "green", "almostFull": "yellow", "full": "red", "closed": "red", "unknown": "grey"}


class SignNotFound(NotFound):
    code = "sign_not_found"


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class SignLotRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lot_id: str = Field(min_length=1, max_length=64)
    label: str | None = Field(default=None, min_length=1, max_length=40)


class SignConfig(BaseModel):
    """One sign; its id is also an MQTT topic level, so it has no `/`, `+` or `#`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(min_length=1, max_length=200)
    location: Location
    heading_deg: float = Field(default=0.0, ge=0, lt=360, description="direction the sign faces traffic from; 0 = north")
    lots: list[SignLotRef] = Field(min_length=1, max_length=32)

    @field_validator("lots", mode="before")
    @classmethod
    def _ids_as_refs(cls, v: object) -> object:
        if isinstance(v, list):
            return [{"lot_id": x} if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _each_lot_once(self) -> "SignConfig":
        seen: dict[str, int] = {}
        for i, ref in enumerate(self.lots):
            if ref.lot_id in seen:
                raise ValueError(f"lots[{i}] {ref.lot_id!r} is already lots[{seen[ref.lot_id]}]")
            seen[ref.lot_id] = i
        return self


class SignsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signs: list[SignConfig]


def load_signs(path: Path, known_lots: Collection[str], *, setting: str = "PARKING_SIGNS") -> list[SignConfig]:
    """Read and check a JSON or YAML sign file; ConfigError names the sign index and field."""

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{setting}={str(path)!r}: {message}", field=setting, value=str(path))

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read the sign file ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise fail(f"not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: {exc}") from None
    try:
        signs = SignsFile.model_validate(raw).signs
    except ValidationError as exc:
        raise fail("; ".join(_describe(e, raw) for e in exc.errors()[:5])) from None
    problems = _cross_check(signs, known_lots)
    if problems:
        raise fail("; ".join(problems[:5]))
    return signs


def _describe(err: dict, raw: object) -> str:
    """`signs[2] ('north-gate').lots[0].lot_id: Field required` from a pydantic error."""
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    loc = err["loc"]
    if len(loc) >= 2 and loc[0] == "signs" and isinstance(loc[1], int) and isinstance(raw, dict):
        try:
            sign_id = raw["signs"][loc[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            sign_id = None
        if isinstance(sign_id, str):
            where = where.replace(f"signs[{loc[1]}]", f"signs[{loc[1]}] ({sign_id!r})", 1)
    return f"{where or 'file'}: {err['msg']}"


def _cross_check(signs: list[SignConfig], known_lots: Collection[str]) -> list[str]:
    problems: list[str] = []
    first: dict[str, int] = {}
    for i, sign in enumerate(signs):
        if sign.id in first:
            problems.append(f"signs[{i}].id: {sign.id!r} is already the id of signs[{first[sign.id]}]")
        first.setdefault(sign.id, i)
        for j, ref in enumerate(sign.lots):
            if ref.lot_id not in known_lots:
                problems.append(f"signs[{i}] ({sign.id!r}).lots[{j}].lot_id: no car park {ref.lot_id!r} in the registry")
    return problems


@dataclass(frozen=True)
class SignLine:
    """One row of a sign: a car park, how many spaces, and which way to drive."""

    lot_id: str
    label: str
    free: int
    total: int
    status: str
    display: str
    colour: str
    arrow: str | None
    distance_m: float | None
    distance_text: str | None


@dataclass(frozen=True)
class SignView:
    id: str
    name: str
    lat: float
    lon: float
    lines: tuple[SignLine, ...]
    updated_at: datetime | None


def what_sign_shows(sign: SignConfig, lots: Mapping[str, LotInfo], availability: Mapping[str, Availability]) -> SignView:
    """The sign's rows in configured order; a car park gone from the registry shows unknown."""
    here = (sign.location.lat, sign.location.lon)
    lines = []
    stamps = []
    for ref in sign.lots:
        info = lots.get(ref.lot_id)
        a = availability.get(ref.lot_id) or Availability(free=0, total=info.total if info else 0, status="unknown", updated_at=None)
        arrow = distance = None
        if info is not None:
            distance = round(great_circle(here, (info.lat, info.lon)).meters, 1)
            arrow = _arrow(bearing_deg(here, (info.lat, info.lon)) - sign.heading_deg)
        if a.updated_at is not None:
            stamps.append(a.updated_at)
        lines.append(SignLine(
            lot_id=ref.lot_id, label=ref.label or (info.name if info else ref.lot_id), free=a.free, total=a.total,
            status=a.status, display=DISPLAY.get(a.status, str(a.free)), colour=COLOURS[a.status],
            arrow=arrow, distance_m=distance, distance_text=_distance_text(distance),
        ))
    return SignView(
        id=sign.id, name=sign.name, lat=sign.location.lat, lon=sign.location.lon,
        lines=tuple(lines), updated_at=max(stamps) if stamps else None,
    )


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial great-circle bearing from a to b, degrees clockwise from north."""
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlon = math.radians(b[1] - a[1])
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360


def _arrow(relative_deg: float) -> str:
    return ARROWS[round((relative_deg % 360) / 45) % 8]


def _distance_text(metres: float | None) -> str | None:
    if metres is None:
        return None
    if metres < 1000:
        return f"{int(round(metres, -1))} m"
    return f"{metres / 1000:.1f} km"
