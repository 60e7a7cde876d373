"""What devices told us, as accepted facts (past tense), independent of MQTT.

The ingest turns each valid message into one of these; live state and the event log
consume them; billing reacts to passages and berth plates.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BerthReported:
    lot_id: str
    berth_id: str
    occupied: bool
    seq: int
    ts: datetime
    battery_mv: int | None = None
    rssi: int | None = None
    plate: str | None = None

    kind = "berth"

    @property
    def subject(self) -> str:
        return self.berth_id

    @property
    def dedupe_key(self) -> str:
        return f"b:{self.berth_id}:{self.seq}"

    def data(self) -> dict:
        d: dict = {"occupied": self.occupied, "seq": self.seq}
        for k in ("battery_mv", "rssi", "plate"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True, slots=True)
class PassageReported:
    lot_id: str
    gate_id: str
    event_id: str
    direction: str  # "in" | "out"
    plate: str
    ts: datetime
    plate_color: str | None = None
    confidence: float | None = None

    kind = "passage"

    @property
    def subject(self) -> str:
        return self.gate_id

    @property
    def dedupe_key(self) -> str:
        return f"p:{self.event_id}"

    def data(self) -> dict:
        d: dict = {"event_id": self.event_id, "direction": self.direction, "plate": self.plate}
        if self.plate_color is not None:
            d["plate_color"] = self.plate_color
        if self.confidence is not None:
            d["confidence"] = self.confidence
        return d


@dataclass(frozen=True, slots=True)
class CountsReported:
    lot_id: str
    free: int
    total: int
    ts: datetime

    kind = "counts"
    subject = ""

    @property
    def dedupe_key(self) -> str:
        return f"c:{self.ts.timestamp():.3f}"

    def data(self) -> dict:
        return {"free": self.free, "total": self.total}


@dataclass(frozen=True, slots=True)
class HeartbeatReported:
    lot_id: str
    device_id: str
    ts: datetime
    battery_mv: int | None = None

    kind = "heartbeat"

    @property
    def subject(self) -> str:
        return self.device_id

    @property
    def dedupe_key(self) -> str:
        return f"h:{self.device_id}:{self.ts.timestamp():.3f}"

    def data(self) -> dict:
        return {} if self.battery_mv is None else {"battery_mv": self.battery_mv}


DeviceEvent = BerthReported | PassageReported | CountsReported | HeartbeatReported
