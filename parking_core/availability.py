"""A lot's availability as drivers see it: free, total and one of the contract's statuses."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parking_core.live.base import LiveLot
from parking_core.lots import LotInfo

STATUSES = ("spacesAvailable", "almostFull", "full", "closed", "unknown")


@dataclass(frozen=True)
class Availability:
    free: int
    total: int
    status: str
    updated_at: datetime | None

    def as_message(self, now: datetime) -> dict:
        """The retained MQTT payload (contract section 3)."""
        ts = self.updated_at or now
        return {"free": self.free, "total": self.total, "status": self.status, "ts": ts.isoformat()}


def availability(info: LotInfo, live: LiveLot | None, now: datetime, *, almost_full_ratio: float = 0.1) -> Availability:
    """Closed outside shared hours; unknown without fresh data; else by free share of total."""
    if live is None:
        return Availability(free=0, total=info.total, status="unknown", updated_at=None)
    total = live.total
    if not info.open_at(now):
        return Availability(free=0, total=total, status="closed", updated_at=live.updated_at)
    if not live.known:
        return Availability(free=0, total=total, status="unknown", updated_at=live.updated_at)
    free = max(0, min(live.free, total))
    if free == 0:
        status = "full"
    elif free <= total * almost_full_ratio:
        status = "almostFull"
    else:
        status = "spacesAvailable"
    return Availability(free=free, total=total, status=status, updated_at=live.updated_at)
