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
SQLITE_ROWS = 4000  # rows per INSERT: 7 parameters each, under SQLite's 32,766


def append_events(session: Session, events: Sequence[DeviceEvent], received_at: datetime) -> list[DeviceEvent]:
    """Log each event once: its (lot, dedupe key) goes into `occupancy_event_keys` first, and only the
    events whose key was new are written, so a re-delivered one is ignored whatever month its time
    falls in (the log itself is partitioned by month on PostgreSQL, where no index spans months).
    Returns the events that were new to the log, each once: what stays must still react to.

    New means not committed before, whatever live state said: an event whose transaction rolled
    back (a crash, a poison message beside it) is new when it comes again, one that committed
    never is. This is the ingest's hottest write: one statement a batch on PostgreSQL (the rows as
    one JSON array, written by orjson: text arrays cost the driver two regex substitutions an element;
    the keys inserted in a CTE whose RETURNING picks the rows to log), two on SQLite
    (multi-row VALUES: the keys, then the new events), straight to the driver."""
    if not events:
        return []
    sqlite = session.get_bind().dialect.name == "sqlite"
    at = _db_time(received_at, sqlite)
    cols = "lot_id, kind, subject, dedupe_key, ts, received_at, data"
    conn = session.connection()
    new: set[tuple[str, str]] = set()
    if sqlite:
        for i in range(0, len(events), SQLITE_ROWS):
            chunk = events[i:i + SQLITE_ROWS]
            values = ", ".join(["(?, ?)"] * len(chunk))
            sql = (f"INSERT INTO occupancy_event_keys (lot_id, dedupe_key) VALUES {values} "
                   "ON CONFLICT (lot_id, dedupe_key) DO NOTHING RETURNING lot_id, dedupe_key")
            new.update((lot, key) for lot, key in conn.exec_driver_sql(sql, tuple(v for e in chunk for v in (e.lot_id, e.dedupe_key))))
        logged = _first_of_each(events, new)
        for i in range(0, len(logged), SQLITE_ROWS):
            chunk = logged[i:i + SQLITE_ROWS]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            params = tuple(v for e in chunk for v in (e.lot_id, e.kind, e.subject, e.dedupe_key, _db_time(e.ts, True), at, orjson.dumps(e.data()).decode()))
            conn.exec_driver_sql(f"INSERT INTO occupancy_events ({cols}) VALUES {values}", params)
        return logged
    rows = orjson.dumps([(e.lot_id, e.kind, e.subject, e.dedupe_key, _db_time(e.ts, False), e.data()) for e in events])
    sql = ("WITH u AS (SELECT DISTINCT ON (l, d) * FROM (SELECT v->>0 AS l, v->>1 AS k, v->>2 AS s, v->>3 AS d, "
           "(v->>4)::timestamptz AS t, v->5 AS j, n FROM json_array_elements(%s::json) WITH ORDINALITY AS x(v, n)) AS e "
           "ORDER BY l, d, n), "
           "fresh AS (INSERT INTO occupancy_event_keys (lot_id, dedupe_key) SELECT l, d FROM u "
           "ON CONFLICT (lot_id, dedupe_key) DO NOTHING RETURNING lot_id, dedupe_key) "
           f"INSERT INTO occupancy_events ({cols}) SELECT u.l, u.k, u.s, u.d, u.t, %s, u.j "
           "FROM u JOIN fresh ON fresh.lot_id = u.l AND fresh.dedupe_key = u.d ORDER BY u.n RETURNING lot_id, dedupe_key")
    new.update((lot, key) for lot, key in conn.exec_driver_sql(sql, (rows.decode(), at)))
    return _first_of_each(events, new)


def _first_of_each(events: Sequence[DeviceEvent], new: set[tuple[str, str]]) -> list[DeviceEvent]:
    """The events whose key is in `new`, the first of each key only (a copy later in the same batch is not new)."""
    fresh, new = [], set(new)
    for e in events:
        key = (e.lot_id, e.dedupe_key)
        if key in new:
            new.discard(key)
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

