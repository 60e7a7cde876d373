"""A lot's availability history from the `availability_changes` log: the changes, or the value in force at each step.

Limits keep one request cheap: at most MAX_RANGE between `from` and `to`, at most MAX_CHANGES changes
(else ask for a step), at most MAX_STEPS steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from parking_core.errors import InvalidInput
from parking_core.models import AvailabilityChange

MAX_RANGE = timedelta(days=31)
MAX_CHANGES = 10_000
MAX_STEPS = 5_000
MIN_STEP_S = 60


@dataclass(frozen=True)
class Point:
    ts: datetime
    free: int
    total: int
    status: str


@dataclass(frozen=True)
class History:
    start: datetime
    end: datetime
    step_s: int | None
    in_force_at_start: Point | None  # the last change before `start`, so a chart can begin at `start`
    points: list[Point]


def check_range(start: datetime, end: datetime, step_s: int | None) -> None:
    """Raise InvalidInput naming `from`, `to` or `step` when the request is not one this module answers."""
    for name, value in (("to", end), ("from", start)):
        if value.tzinfo is None:
            raise InvalidInput(f"{name}: {value.isoformat()} has no UTC offset (RFC 3339 needs one)", field=name, value=value.isoformat())
    if end <= start:
        raise InvalidInput(f"to: {end.isoformat()} is not after from {start.isoformat()}", field="to", value=end.isoformat())
    if end - start > MAX_RANGE:
        raise InvalidInput(f"from: at most {MAX_RANGE.days} days before to", field="from", value=start.isoformat())
    if step_s is not None:
        if step_s < MIN_STEP_S:
            raise InvalidInput(f"step: at least {MIN_STEP_S} s", field="step", value=step_s)
        steps = int((end - start).total_seconds() // step_s) + 1
        if steps > MAX_STEPS:
            shortest = -(-int((end - start).total_seconds()) // (MAX_STEPS - 1))
            raise InvalidInput(f"step: {steps} steps is over {MAX_STEPS}; use a step of at least {shortest} s", field="step", value=step_s)


def _point(row) -> Point:
    return Point(ts=row.ts, free=row.free, total=row.total, status=row.status)


def in_force(session: Session, lot_id: str, at: datetime) -> Point | None:
    """The lot's last logged change at or before `at`."""
    A = AvailabilityChange
    row = session.execute(
        select(A.ts, A.free, A.total, A.status).where(A.lot_id == lot_id, A.ts <= at).order_by(A.ts.desc(), A.id.desc()).limit(1)
    ).first()
    return _point(row) if row else None


def changes(session: Session, lot_id: str, start: datetime, end: datetime, *, limit: int) -> list[Point]:
    """Changes with start < ts <= end, oldest first; InvalidInput naming `from` when there are more than `limit`."""
    A = AvailabilityChange
    rows = session.execute(
        select(A.ts, A.free, A.total, A.status)
        .where(A.lot_id == lot_id, A.ts > start, A.ts <= end)
        .order_by(A.ts, A.id)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        raise InvalidInput(
            f"from: more than {limit} changes between from and to; narrow the range or pass a step",
            field="from", value=start.isoformat(),
        )
    return [_point(r) for r in rows]


def history(session: Session, lot_id: str, start: datetime, end: datetime, *, step_s: int | None, total: int, now: datetime) -> History:
    """Changes in (start, end], or with a step the value in force at start, start + step, ... up to end and now."""
    check_range(start, end, step_s)
    before = in_force(session, lot_id, start)
    if step_s is None:
        return History(start, end, None, before, changes(session, lot_id, start, end, limit=MAX_CHANGES))
    return History(start, end, step_s, before, _resample(session, lot_id, start, min(end, now), step_s, before, total))


def _resample(session: Session, lot_id: str, start: datetime, last: datetime, step_s: int, before: Point | None, total: int) -> list[Point]:
    """One pass over the log beside the steps: the value in force at each (unknown before the first change)."""
    A = AvailabilityChange
    rows = session.execute(
        select(A.ts, A.free, A.total, A.status).where(A.lot_id == lot_id, A.ts > start, A.ts <= last).order_by(A.ts, A.id)
    )
    pending = next(rows, None)
    current, points, t, step = before, [], start, timedelta(seconds=step_s)
    while t <= last:
        while pending is not None and pending.ts <= t:
            current, pending = _point(pending), next(rows, None)
        points.append(Point(t, current.free, current.total, current.status) if current else Point(t, 0, total, "unknown"))
        t += step
    return points
