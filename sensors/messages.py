"""Device messages (contract section 2): topic parsing and strict payload validation.

`parse_message` turns one MQTT message into an accepted event or a Rejection whose reason
names the field and what was wrong. It never raises on input.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from parking_core.clock import utcnow
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.plates import normalize_plate
from sensors.topics import UNKNOWN_LOT, TopicRefused, Topics, topics_of

MAX_PAYLOAD = 64 * 1024
MAX_FUTURE = timedelta(hours=1)
OLDEST = datetime(2020, 1, 1).astimezone()
DeviceId = Field(min_length=1, max_length=64)


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    ts: AwareDatetime


class BerthState(_Msg):
    occupied: bool
    seq: int = Field(ge=0, le=2**53)
    battery_mv: int | None = Field(default=None, ge=0, le=100_000)
    rssi: int | None = Field(default=None, ge=-200, le=50)
    plate: str | None = Field(default=None, max_length=32)


class Passage(_Msg):
    event_id: str = Field(min_length=1, max_length=128)
    direction: Literal["in", "out"]
    plate: str = Field(min_length=1, max_length=32)
    plate_color: Literal["blue", "green", "yellow", "white", "black"] | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)


class Counts(_Msg):
    free: int = Field(ge=0, le=100_000)
    total: int = Field(ge=0, le=100_000)


class Heartbeat(_Msg):
    battery_mv: int | None = Field(default=None, ge=0, le=100_000)


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    payload: bytes
    reason: str
    lot_id: str = UNKNOWN_LOT


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        if err["type"] == "missing":
            parts.append(f"field '{loc}' is required")
        elif err["type"] == "json_invalid":
            parts.append(f"payload is not valid JSON: {err['msg']}")
        elif err["type"] in ("model_type", "model_attributes_type"):
            parts.append("payload must be a JSON object")
        else:
            parts.append(f"field '{loc}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


def parse_message(topic: str, payload: bytes, prefix: str | Topics, *, now: datetime | None = None) -> DeviceEvent | Rejection:
    """One message in, one accepted event or one rejection out."""
    where = topics_of(prefix).parse(topic)
    if isinstance(where, TopicRefused):
        return Rejection(topic, payload, where.reason, where.lot_id or UNKNOWN_LOT)
    lot_id = where.lot_id
    if not where.is_device:
        return Rejection(topic, payload, f"topic {topic!r} is not a device topic of contract v1", lot_id or UNKNOWN_LOT)
    if len(payload) > MAX_PAYLOAD:
        return Rejection(topic, payload, f"payload is {len(payload)} bytes, over the {MAX_PAYLOAD} byte limit", lot_id)
    try:
        if where.kind == "berth_state":
            m = BerthState.model_validate_json(payload)
            event: DeviceEvent = BerthReported(
                lot_id=lot_id, berth_id=where.item_id, occupied=m.occupied, seq=m.seq, ts=m.ts,
                battery_mv=m.battery_mv, rssi=m.rssi, plate=_plate(m.plate) if m.plate else None,
            )
        elif where.kind == "passage":
            m = Passage.model_validate_json(payload)
            plate = _plate(m.plate)
            if not plate:
                return Rejection(topic, payload, f"field 'plate': {m.plate!r} has no letters or digits", lot_id)
            event = PassageReported(
                lot_id=lot_id, gate_id=where.item_id, event_id=m.event_id, direction=m.direction, plate=plate, ts=m.ts,
                plate_color=m.plate_color, confidence=m.confidence,
            )
        elif where.kind == "counts":
            m = Counts.model_validate_json(payload)
            if m.free > m.total:
                return Rejection(topic, payload, f"field 'free': {m.free} is more than total {m.total}", lot_id)
            event = CountsReported(lot_id=lot_id, free=m.free, total=m.total, ts=m.ts)
        else:
            m = Heartbeat.model_validate_json(payload)
            event = HeartbeatReported(lot_id=lot_id, device_id=where.item_id, ts=m.ts, battery_mv=m.battery_mv)
    except ValidationError as exc:
        return Rejection(topic, payload, _reason(exc), lot_id)
    now = now or utcnow()
    if event.ts > now + MAX_FUTURE:
        return Rejection(topic, payload, f"field 'ts': {event.ts.isoformat()} is more than 1 h in the future", lot_id)
    if event.ts < OLDEST:
        return Rejection(topic, payload, f"field 'ts': {event.ts.isoformat()} is before 2020", lot_id)
    return event


def _plate(raw: str) -> str:
    return normalize_plate(raw)
