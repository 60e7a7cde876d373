"""What a car park is, independent of storage: its registry entry and its shared hours."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time

from parking_core.clock import local

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class SharedHours:
    """Hours a lot is open to the public (错时共享); may wrap midnight, e.g. 18:00-08:00."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> "SharedHours":
        m = _HOURS.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        a, b = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
        if a == b:
            raise ValueError(f"{text!r} opens and closes at the same minute")
        return cls(a, b)

    def is_open(self, at: datetime) -> bool:
        t = local(at).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class LotInfo:
    """A car park as the registry describes it (the static half of what the API shows)."""

    id: str
    name: str
    kind: str
    operator: str
    district: str
    lat: float
    lon: float
    total: int
    berths: tuple[str, ...] = ()
    tariff: str | None = None
    shared_hours: SharedHours | None = field(default=None)

    @property
    def has_sensors(self) -> bool:
        return bool(self.berths)

    def open_at(self, at: datetime) -> bool:
        return self.shared_hours is None or self.shared_hours.is_open(at)
