"""The occupancy event log: append accepted events once, and replay them to rebuild live state."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import orjson

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parking_core.availability import Availability
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.models import AvailabilityChange, Device, OccupancyEvent

PASSAGE_REPLAY = timedelta(days=7)


def append_events(session: Session, events: Sequence[DeviceEvent], received_at: datetime) -> None:
    """Log each event once: its (lot, dedupe key) is unique, so a re-delivered one is ignored.

    This is the ingest's hottest write, so it goes to the driver as one executemany of
    plain values (UTC timestamps, JSON text) instead of through per-row ORM type handling."""
    if events:
        sqlite = session.get_bind().dialect.name == "sqlite"
        ph = "?" if sqlite else "%s"
        sql = (
            "INSERT INTO occupancy_events (lot_id, kind, subject, dedupe_key, ts, received_at, data) "
            f"VALUES ({', '.join([ph] * 7)}) ON CONFLICT (lot_id, dedupe_key) DO NOTHING"
        )
        at = _db_time(received_at, sqlite)
        rows = [(e.lot_id, e.kind, e.subject, e.dedupe_key, _db_time(e.ts, sqlite), at, orjson.dumps(e.data()).decode()) for e in events]
        session.connection().exec_driver_sql(sql, rows)


def not_yet_logged(session: Session, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
    """The events the log does not hold yet, each once: what stays must still react to.

    Called in the transaction that then appends them, so an event whose transaction rolled
    back (a crash, a poison message beside it) counts as new when it comes again, and one that
    committed never does, whatever live state said about it."""
    if not events:
        return []
    seen: set[tuple[str, str]] = set()
    keys = sorted({e.dedupe_key for e in events})
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows = session.execute(select(OccupancyEvent.lot_id, OccupancyEvent.dedupe_key).where(OccupancyEvent.dedupe_key.in_(chunk)))
        seen.update((lot, key) for lot, key in rows)
    fresh = []
    for e in events:
        key = (e.lot_id, e.dedupe_key)
        if key not in seen:
            seen.add(key)
            fresh.append(e)
    return fresh


def _db_time(ts: datetime, sqlite: bool):
    """What UTCDateTime would bind: naive UTC text on SQLite, an aware UTC datetime on PostgreSQL."""
    utc = ts.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else utc


def upsert_devices(session: Session, beats: Sequence[HeartbeatReported]) -> None:
    """Devices' last heartbeat, in one INSERT .. ON CONFLICT DO UPDATE, the newest report winning
    (derived data: every heartbeat is in the log, so the ingest flushes this once a tick)."""
    if not beats:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    t = Device.__table__
    stmt = insert(t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.lot_id, t.c.id],
        set_={"last_seen_at": stmt.excluded.last_seen_at, "battery_mv": func.coalesce(stmt.excluded.battery_mv, t.c.battery_mv)},
        where=t.c.last_seen_at < stmt.excluded.last_seen_at,
    )
    session.execute(stmt, [{"lot_id": e.lot_id, "id": e.device_id, "last_seen_at": e.ts, "battery_mv": e.battery_mv} for e in beats])


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

