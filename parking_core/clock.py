"""Time in one place: always timezone-aware, Asia/Shanghai for anything a driver pays for."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def local(dt: datetime) -> datetime:
    """The same instant on the Shanghai wall clock; refuses naive datetimes."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()} has no timezone")
    return dt.astimezone(SHANGHAI)
