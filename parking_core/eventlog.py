"""The occupancy event log: append accepted events once, and replay them to rebuild live state."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parking_core.availability import Availability
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.models import AvailabilityChange, Device, OccupancyEvent

PASSAGE_REPLAY = timedelta(days=7)


def _insert_ignoring_duplicates(session: Session, table, rows: list[dict], index: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(table).on_conflict_do_nothing(index_elements=index), rows)


def append_events(session: Session, events: Sequence[DeviceEvent], received_at: datetime) -> None:
    """Log each event once: its (lot, dedupe key) is unique, so a re-delivered one is ignored."""
    rows = [
        {"lot_id": e.lot_id, "kind": e.kind, "subject": e.subject, "dedupe_key": e.dedupe_key, "ts": e.ts, "received_at": received_at, "data": e.data()}
        for e in events
    ]
    _insert_ignoring_duplicates(session, OccupancyEvent.__table__, rows, ["lot_id", "dedupe_key"])
    seen: dict[tuple[str, str], HeartbeatReported] = {}
    for e in events:
        if isinstance(e, HeartbeatReported):
            key = (e.lot_id, e.device_id)
            if key not in seen or e.ts > seen[key].ts:
                seen[key] = e
    for (lot_id, device_id), e in seen.items():
        row = session.get(Device, (lot_id, device_id))
        if row is None:
            session.add(Device(lot_id=lot_id, id=device_id, last_seen_at=e.ts, battery_mv=e.battery_mv))
        elif e.ts > row.last_seen_at:
            row.last_seen_at, row.battery_mv = e.ts, e.battery_mv if e.battery_mv is not None else row.battery_mv


def append_availability(session: Session, changes: Sequence[tuple[str, datetime, Availability]]) -> None:
    if changes:
        session.execute(
            AvailabilityChange.__table__.insert(),
            [{"lot_id": lot, "ts": ts, "free": a.free, "total": a.total, "status": a.status} for lot, ts, a in changes],
        )


def _event(row: OccupancyEvent) -> DeviceEvent:
    d = row.data
    if row.kind == "berth":
        return BerthReported(lot_id=row.lot_id, berth_id=row.subject, occupied=d["occupied"], seq=d["seq"], ts=row.ts, plate=d.get("plate"))
    if row.kind == "passage":
        return PassageReported(lot_id=row.lot_id, gate_id=row.subject, event_id=d["event_id"], direction=d["direction"], plate=d["plate"], ts=row.ts)
    if row.kind == "counts":
        return CountsReported(lot_id=row.lot_id, free=d["free"], total=d["total"], ts=row.ts)
    return HeartbeatReported(lot_id=row.lot_id, device_id=row.subject, ts=row.ts)


def replay_events(session: Session, now: datetime) -> list[DeviceEvent]:
    """What rebuilds live state: each berth's and device's latest report, each lot's latest
    count, and the passages since that count (at most PASSAGE_REPLAY back), in time order."""
    E = OccupancyEvent
    ranked = select(
        E.id,
        func.row_number().over(partition_by=(E.lot_id, E.kind, E.subject), order_by=(E.ts.desc(), E.id.desc())).label("rn"),
    ).where(E.kind.in_(("berth", "heartbeat", "counts"))).subquery()
    latest_ids = select(ranked.c.id).where(ranked.c.rn == 1)
    latest = list(session.scalars(select(E).where(E.id.in_(latest_ids))))
    counted = {r.lot_id: r.ts for r in latest if r.kind == "counts"}
    horizon = now - PASSAGE_REPLAY
    passages = [
        r for r in session.scalars(select(E).where(E.kind == "passage", E.ts >= horizon).order_by(E.ts, E.id))
        if r.lot_id not in counted or r.ts > counted[r.lot_id]
    ]
    rows = sorted(latest + passages, key=lambda r: (r.ts, r.id))
    return [_event(r) for r in rows]

