"""A lot's availability as drivers see it: free, total and one of the contract's statuses.

Honest status (contract section 2): a lot from which nothing was heard within the heartbeat
timeout, or ever, is `unknown` -- never free, never full. A lot with berth sensors is judged on
its known berths only, and only while at least `min_known_share` of them are known. Every rule
lives in one `AvailabilityRules` so every reader (API, stream, signs, open data, retained
topic, guidance) applies the same ones, computed from the clock at read time: a stalled ingest
or a stopped ticker cannot make old data look live.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from parking_core.directory import Directory
from parking_core.live.base import LiveLot, LiveState
from parking_core.lots import LotInfo

STATUSES = ("spacesAvailable", "almostFull", "full", "closed", "unknown")
READ_CHUNK = 200  # lots per live-state read: a city costs a few round trips to Redis, not thousands


@dataclass(frozen=True)
class AvailabilityRules:
    """The settings every availability reading depends on, passed as one so none is forgotten."""

    almost_full_ratio: float = 0.1  # free at or below this share of the judged berths: almostFull
    heartbeat_timeout_s: float = 900.0  # no message for this long: unknown
    min_known_share: float = 0.5  # sensor lots: below this share of berths known: unknown

    @classmethod
    def from_settings(cls, settings) -> "AvailabilityRules":  # noqa: ANN001 - parking_core.settings.Settings
        return cls(
            almost_full_ratio=settings.almost_full_ratio,
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            min_known_share=settings.min_known_share,
        )


@dataclass(frozen=True)
class Availability:
    free: int
    total: int
    status: str
    updated_at: datetime | None
    berths_known: int | None = None  # sensor lots: berths whose state is known now; None without berth sensors
    unknown_reason: str | None = None  # why the status is unknown, in words a driver reads

    def as_message(self, now: datetime) -> dict:
        """The retained MQTT payload (contract section 3)."""
        ts = self.updated_at or now
        return {"free": self.free, "total": self.total, "status": self.status, "ts": ts.isoformat()}

    @property
    def is_live(self) -> bool:
        """Whether the free count is a current reading (not closed, not unknown)."""
        return self.status in ("spacesAvailable", "almostFull", "full")


def silence_s(live: LiveLot | None, now: datetime) -> float | None:
    """Seconds since the lot's devices last spoke; None when never heard."""
    if live is None or live.last_seen is None:
        return None
    return max(0.0, (now - live.last_seen).total_seconds())


def availability(info: LotInfo, live: LiveLot | None, now: datetime, rules: AvailabilityRules) -> Availability:
    """Closed outside shared hours; unknown without fresh data or with too few berths known;
    else by the free share of what is judged (the known berths, or the lot's total)."""
    sensors = info.has_sensors
    known = (live.known_berths if live is not None else 0) if sensors else None
    if live is None:
        return Availability(0, info.total, "unknown", None, known, "never heard from")
    total = live.total
    if not info.open_at(now):
        return Availability(0, total, "closed", live.updated_at, known)

    def unknown(reason: str) -> Availability:
        return Availability(0, total, "unknown", live.updated_at, known, reason)

    quiet = silence_s(live, now)
    if quiet is None:
        return unknown("never heard from")
    if quiet > rules.heartbeat_timeout_s:
        return unknown(f"nothing heard for {quiet / 60:.0f} min")
    if sensors:
        berths = live.berths or len(info.berths)
        if known == 0 or known < rules.min_known_share * berths:
            return unknown(f"only {known} of {berths} berths known")
        judged = known
    else:
        if not live.known:
            return unknown("no count received")
        judged = total
    free = max(0, min(live.free, judged))
    if free == 0:
        status = "full"
    elif free <= judged * rules.almost_full_ratio:
        status = "almostFull"
    else:
        status = "spacesAvailable"
    return Availability(free, total, status, live.updated_at, known)


class LotNow(NamedTuple):
    """A registered lot, what live state holds for it, and its availability from both."""

    info: LotInfo
    live: LiveLot | None
    availability: Availability


def read_lots_now(
    lots: Mapping[str, LotInfo], live: LiveState, lot_ids: Sequence[str], now: datetime, rules: AvailabilityRules,
) -> Iterator[LotNow]:
    """Each registered lot of `lot_ids` (in that order, unknown ids skipped) with its availability
    now: the one reader behind the endpoints and the pipeline, reading live state a chunk at a time."""
    for start in range(0, len(lot_ids), READ_CHUNK):
        chunk = [i for i in lot_ids[start:start + READ_CHUNK] if i in lots]
        got = live.lots(chunk)
        for lot_id in chunk:
            info, lv = lots[lot_id], got.get(lot_id)
            yield LotNow(info, lv, availability(info, lv, now, rules))


def read_availability(
    lots: Mapping[str, LotInfo], live: LiveState, lot_ids: Sequence[str], now: datetime, rules: AvailabilityRules,
) -> Iterator[tuple[LotInfo, Availability]]:
    """(lot, availability) pairs of `read_lots_now`, for readers that need no live detail."""
    for info, _, a in read_lots_now(lots, live, lot_ids, now, rules):
        yield info, a


def read_lot_now(directory: Directory, live: LiveState, lot_id: str, now: datetime, rules: AvailabilityRules) -> LotNow:
    """One lot now, or LotNotFound."""
    directory.require(lot_id)
    (got,) = read_lots_now(directory.lots, live, [lot_id], now, rules)
    return got
