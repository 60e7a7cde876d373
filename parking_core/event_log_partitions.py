"""The occupancy event log by month: partitions made ahead, months past PARKING_EVENT_LOG_MONTHS retired.

On PostgreSQL `occupancy_events` is partitioned by RANGE on `ts` (migration 0012), one partition per
Shanghai calendar month: `occupancy_events_2026_12` holds [2026-12-01 00:00+08, 2027-01-01 00:00+08).
`occupancy_events_default` takes a row whose month has no partition, so no insert is ever refused.
Maintenance, daily inside `parking serve` and as `parking events partitions`:

1. makes the partition of every month the default holds rows of, moving those rows into it (one
   transaction, writers held back for its length), then the current and next month's if missing;
2. retires every month before the kept ones (the current month and the PARKING_EVENT_LOG_MONTHS - 1
   before it; 0 keeps all): detaches it (a short lock), writes it to a gzip CSV in
   PARKING_EVENT_LOG_ARCHIVE_DIR when one is set, deletes its de-duplication keys, drops it.

A month is retired whole, never a day of it: the plate hashing of parking_core/retention.py works on
rows inside the kept months and is untouched. On SQLite (no partitions) step 2 deletes the old months'
rows (archiving them the same way) and step 1 has nothing to do. Each change is audited with its
counts; running again changes nothing more; two runs at once queue on an advisory lock.
"""
from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, delete, func, select, text, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from parking_core.audit import record_audit
from parking_core.clock import SHANGHAI, local
from parking_core.daily import DailySchedule
from parking_core.db import UnitOfWork
from parking_core.errors import ConfigError, DependencyUnavailable, ParkingError
from parking_core.models import OccupancyEvent, OccupancyEventKey
from parking_core.plate_privacy import HASH_MARK
from parking_core.settings import load_validated

log = logging.getLogger("parking.event_log")

TABLE = "occupancy_events"
DEFAULT = f"{TABLE}_default"
MONTHLY = re.compile(rf"^{TABLE}_(\d{{4}})_(\d{{2}})$")
COLUMNS = ("id", "lot_id", "kind", "subject", "dedupe_key", "ts", "received_at", "data")
LOCK = "SELECT pg_advisory_xact_lock(hashtext('parking.event_log_partitions'))"
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"  # never queue the ingest behind a long reader for long


class EventLogSettings(BaseSettings):
    """How many months the event log keeps, where retired months go, when the daily run is."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    months: int = Field(default=13, alias="PARKING_EVENT_LOG_MONTHS", ge=0, le=1200)
    archive_dir: Path | None = Field(default=None, alias="PARKING_EVENT_LOG_ARCHIVE_DIR")
    hour: int = Field(default=4, alias="PARKING_EVENT_LOG_HOUR", ge=-1, le=23)  # Shanghai hour of the daily run; -1 never

    @field_validator("months")
    @classmethod
    def _months(cls, v: int) -> int:
        if v == 1:  # on the 1st, yesterday would go: replay needs a week of passages
            raise ValueError("must be 0 (keep every month) or at least 2 (this month and the whole month before)")
        return v

    @field_validator("archive_dir", mode="before")
    @classmethod
    def _dir(cls, v: Any) -> Any:
        if v is None or str(v).strip() == "":
            return None
        if Path(v).exists() and not Path(v).is_dir():
            raise ValueError("exists and is not a directory")
        return v


def load_event_log_settings(**overrides: Any) -> EventLogSettings:
    """The settings, or ConfigError naming the bad variable and its value."""
    return load_validated(EventLogSettings, overrides)


# -- months ------------------------------------------------------------------------------------------
def month_of(ts: datetime) -> date:
    """The Shanghai calendar month an instant falls in (its first day)."""
    return local(ts).date().replace(day=1)


def add_months(m: date, n: int) -> date:
    k = m.year * 12 + m.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def month_start(m: date) -> datetime:
    """The instant a Shanghai month begins (midnight, +08:00)."""
    return datetime(m.year, m.month, 1, tzinfo=SHANGHAI)


def partition_name(m: date) -> str:
    return f"{TABLE}_{m.year:04d}_{m.month:02d}"


def _month_of_name(name: str) -> date | None:
    found = MONTHLY.match(name)
    return date(int(found[1]), int(found[2]), 1) if found else None


def _bound(m: date) -> str:
    return month_start(m).astimezone(UTC).isoformat(sep=" ")


# -- the report --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetiredMonth:
    month: date
    rows: int
    archive: Path | None  # None: dropped without an archive (or nothing to archive)


@dataclass
class PartitionReport:
    """What a run did (or, dry, would do): partitions made, rows moved out of the default, months retired."""

    dry_run: bool
    partitioned: bool  # False on SQLite: retirement deletes rows
    keep_from: date | None  # the oldest month kept; None: every month kept
    created: list[str] = field(default_factory=list)
    moved: int = 0
    retired: list[RetiredMonth] = field(default_factory=list)
    held: dict[date, int] = field(default_factory=dict)  # due, but rows with plates in the clear: not archived yet

    def as_dict(self) -> dict:
        return {"created": self.created, "moved": self.moved, "keep_from": str(self.keep_from) if self.keep_from else None,
                "retired": [{"month": m.month.strftime("%Y-%m"), "rows": m.rows, "archive": str(m.archive) if m.archive else None}
                            for m in self.retired],
                "held": {m.strftime("%Y-%m"): n for m, n in self.held.items()}}


@dataclass(frozen=True)
class SystemActor:
    """The maintenance job as the audit log names it."""

    id: str = "system:event-log"
    kind: str = "system"
    org_id: str = "city"
    name: str = "event log partitions"


Progress = Callable[[str, int, int], None]  # (step, done, total): the CLI draws it


@dataclass
class EventLogMaintenance:
    """Makes partitions ahead and retires old months, each change one transaction with its audit row."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    settings: EventLogSettings

    def run(self, *, dry_run: bool = False, progress: Progress | None = None) -> PartitionReport:
        now = self.clock()
        current = month_of(now)
        keep_from = add_months(current, 1 - self.settings.months) if self.settings.months else None
        with self.uow() as uow:
            partitioned = _is_partitioned(uow.session)
        report = PartitionReport(dry_run=dry_run, partitioned=partitioned, keep_from=keep_from)
        try:
            stray = self._make_ahead(report, current, now, progress) if partitioned else {}
            if keep_from is not None:
                self._retire(report, keep_from, now, progress, stray)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available: readers or writers held the table
                raise DependencyUnavailable(f"{TABLE} stayed locked by other transactions for 10 s; nothing half done, "
                                            "try again later", field="DATABASE_URL") from exc
            raise
        log.info("event log partitions%s: created %s, moved %d rows from the default, retired %s", " (dry run)" if dry_run else "",
                 report.created or "none", report.moved, [f"{m.month:%Y-%m} ({m.rows} rows)" for m in report.retired] or "none")
        return report

    # -- step 1: partitions ahead, the default emptied -------------------------------------------------
    def _make_ahead(self, report: PartitionReport, current: date, now: datetime, progress: Progress | None) -> dict[date, int]:
        """Returns the default's rows by month as found (a dry run's retirement counts them too)."""
        with self.uow() as uow:
            have = set(_attached(uow.session))
            stray = _default_months(uow.session)
        todo = sorted(set(stray) | ({current, add_months(current, 1)} - have))
        for i, m in enumerate(todo):
            if report.dry_run:
                report.created.append(partition_name(m))
                report.moved += stray.get(m, 0)
            else:
                with self.uow() as uow:
                    made, moved = _create_month(uow.session, m)
                    if made:
                        record_audit(uow.session, actor=SystemActor(), action="event_log.partition_created",
                                     subject=partition_name(m), operator_id=None, before=None,
                                     after={"month": f"{m:%Y-%m}", "rows_moved_from_default": moved}, at=now)
                    uow.commit()
                if made:
                    report.created.append(partition_name(m))
                    report.moved += moved
            if progress is not None:
                progress("create", i + 1, len(todo))
        return stray

    # -- step 2: months past the kept ones -------------------------------------------------------------
    def _retire(self, report: PartitionReport, keep_from: date, now: datetime, progress: Progress | None,
                stray: dict[date, int]) -> None:
        with self.uow() as uow:
            due = dict(_due_months(uow.session, keep_from, report.partitioned))
        if report.dry_run:  # months only the default holds would have had their partition made by now
            for m, n in stray.items():
                if m < keep_from:
                    due[m] = due.get(m, 0) + n
        for i, (m, rows) in enumerate(sorted(due.items())):
            if report.dry_run:
                with self.uow() as uow:
                    clear = _clear_plates(uow.session, m, report.partitioned) if self.settings.archive_dir else 0
                done = None if clear else RetiredMonth(m, rows, None)
            else:
                done, clear = self._retire_month(m, report.partitioned, now)
            if clear:
                report.held[m] = clear
                log.warning("event log %s not archived: %d rows hold plates in the clear (run `parking privacy retention`"
                            " first, or unset PARKING_EVENT_LOG_ARCHIVE_DIR to drop instead)", f"{m:%Y-%m}", clear)
            elif done is not None:
                report.retired.append(done)
            if progress is not None:
                progress("retire", i + 1, len(due))

    def _retire_month(self, m: date, partitioned: bool, now: datetime) -> tuple[RetiredMonth | None, int]:
        """(the month retired, or None if another run did it; rows with plates in the clear that held it back).
        An archive is out of the plate retention's reach, so it never takes a month that still holds a plate:
        checked once no row can join the month any more (after the detach, inside its transaction)."""
        name, archiving = partition_name(m), self.settings.archive_dir is not None
        if partitioned:
            with self.uow() as uow:  # a transaction of its own: the parent is locked only for the detach
                db = uow.session
                db.execute(text(LOCK))
                db.execute(text(LOCK_TIMEOUT))
                if name in _attached(db).values():
                    db.execute(text(f'ALTER TABLE {TABLE} DETACH PARTITION "{name}"'))
                    if archiving and (clear := _clear_plates(db, m, partitioned)):
                        return None, clear  # rolled back: attached as before
                uow.commit()
        with self.uow() as uow:
            db = uow.session
            if partitioned:
                db.execute(text(LOCK))
                if name not in _detached(db).values():
                    return None, 0  # another run finished it
                rows, first, last = db.execute(text(f'SELECT count(*), min(id), max(id) FROM "{name}"')).one()
            else:
                rows, first, last = db.execute(select(func.count(), func.min(OccupancyEvent.id), func.max(OccupancyEvent.id))
                                               .where(*_in_month(m))).one()
                if not rows:
                    return None, 0
                if archiving and (clear := _clear_plates(db, m, partitioned)):
                    return None, clear
            archive = None
            if archiving and rows:
                archive = _archive(db, m, name, first, last, partitioned, self.settings.archive_dir)
            keys = _delete_keys(db, m, name, partitioned)
            if partitioned:
                db.execute(text(f'DROP TABLE "{name}"'))
            else:
                db.execute(delete(OccupancyEvent).where(*_in_month(m)).execution_options(synchronize_session=False))
            record_audit(db, actor=SystemActor(), action="event_log.month_retired", subject=name, operator_id=None,
                         before={"month": f"{m:%Y-%m}", "rows": rows},
                         after={"archived": str(archive) if archive else None, "rows_removed": rows, "keys_removed": keys}, at=now)
            uow.commit()
        log.info("event log %s retired: %d rows %s", f"{m:%Y-%m}", rows, f"archived to {archive}" if archive else "dropped")
        return RetiredMonth(m, rows, archive), 0


# -- PostgreSQL catalogue --------------------------------------------------------------------------------
def _is_partitioned(db: Session) -> bool:
    if db.get_bind().dialect.name != "postgresql":
        return False
    kind = db.execute(text("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relname = :t AND n.nspname = current_schema()"), {"t": TABLE}).scalar()
    if kind != "p":
        raise ParkingError(f"{TABLE} is not partitioned on this PostgreSQL database: run `parking db upgrade`",
                           field="DATABASE_URL")
    return True


def _attached(db: Session) -> dict[date, str]:
    """The monthly partitions attached now, by month (the default left out)."""
    names = db.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE p.relname = :t AND n.nspname = current_schema()"), {"t": TABLE}).scalars()
    return {m: name for name in names if (m := _month_of_name(name)) is not None}


def _detached(db: Session) -> dict[date, str]:
    """Monthly tables no longer attached: a retirement detached them and has not dropped them yet."""
    names = db.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition AND c.relname LIKE :p"),
        {"p": f"{TABLE}\\_%"}).scalars()
    return {m: name for name in names if (m := _month_of_name(name)) is not None}


def _default_months(db: Session) -> dict[date, int]:
    """Rows waiting in the default partition, by Shanghai month."""
    rows = db.execute(text(f"SELECT date_trunc('month', ts AT TIME ZONE 'Asia/Shanghai')::date, count(*) FROM {DEFAULT} GROUP BY 1"))
    return {m: n for m, n in rows}


def _create_month(db: Session, m: date) -> tuple[bool, int]:
    """The month's partition with the default's rows of that month moved into it: (made, rows moved).
    Writers wait for the transaction (it holds the table against inserts), so none is lost between the
    move and the partition's creation, and a row of that month never stays behind in the default."""
    db.execute(text(LOCK))
    db.execute(text(LOCK_TIMEOUT))
    db.execute(text(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE"))
    if m in _attached(db):
        return False, 0
    start, end = _bound(m), _bound(add_months(m, 1))
    db.execute(text(f"CREATE TEMP TABLE occupancy_events_moving (LIKE {TABLE}) ON COMMIT DROP"))
    moved = db.execute(text(f"WITH d AS (DELETE FROM {DEFAULT} WHERE ts >= :a AND ts < :b RETURNING *) "
                            "INSERT INTO occupancy_events_moving SELECT * FROM d"), {"a": month_start(m), "b": month_start(add_months(m, 1))}).rowcount
    db.execute(text(f'CREATE TABLE "{partition_name(m)}" PARTITION OF {TABLE} FOR VALUES FROM (\'{start}\') TO (\'{end}\')'))
    db.execute(text(f"INSERT INTO {TABLE} SELECT * FROM occupancy_events_moving"))
    return True, moved


def _due_months(db: Session, keep_from: date, partitioned: bool) -> list[tuple[date, int]]:
    """Months before `keep_from` still held, oldest first, with their rows."""
    if partitioned:
        tables = {**_detached(db), **_attached(db)}
        return [(m, db.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
                for m, name in sorted(tables.items()) if m < keep_from]
    out: list[tuple[date, int]] = []
    E, start, cutoff = OccupancyEvent, None, month_start(keep_from)
    while (first := db.scalar(select(func.min(E.ts)).where(E.ts < cutoff, *(() if start is None else (E.ts >= start,))))) is not None:
        m = month_of(first)
        out.append((m, db.scalar(select(func.count()).select_from(E).where(*_in_month(m))) or 0))
        start = month_start(add_months(m, 1))  # the next month holding rows, until the kept ones
    return out


def _clear_plates(db: Session, m: date, partitioned: bool) -> int:
    """Rows of the month whose plate is not hashed yet (the plate retention's own test: no HASH_MARK in front)."""
    if partitioned:  # the month where it is: a table a retirement detached, else the log (its partition or the default)
        source = f'"{partition_name(m)}"' if m in _detached(db) else TABLE
        return db.execute(text(f"SELECT count(*) FROM {source} WHERE ts >= :a AND ts < :b AND data->>'plate' IS NOT NULL "
                               "AND left(data->>'plate', 1) <> :mark"),
                          {"a": month_start(m), "b": month_start(add_months(m, 1)), "mark": HASH_MARK}).scalar_one()
    plate = OccupancyEvent.data["plate"].as_string()
    clear = and_(plate.is_not(None), ~plate.startswith(HASH_MARK))
    return db.scalar(select(func.count()).select_from(OccupancyEvent).where(*_in_month(m), clear)) or 0


def _in_month(m: date) -> tuple:
    return OccupancyEvent.ts >= month_start(m), OccupancyEvent.ts < month_start(add_months(m, 1))


def _delete_keys(db: Session, m: date, name: str, partitioned: bool) -> int:
    """The month's de-duplication keys: each logged row has exactly one, so these are its rows' own."""
    if partitioned:
        return db.execute(text(f'DELETE FROM occupancy_event_keys k USING "{name}" p '
                               "WHERE k.lot_id = p.lot_id AND k.dedupe_key = p.dedupe_key")).rowcount
    K = OccupancyEventKey
    rows = select(OccupancyEvent.lot_id, OccupancyEvent.dedupe_key).where(*_in_month(m))
    return db.execute(delete(K).where(tuple_(K.lot_id, K.dedupe_key).in_(rows)).execution_options(synchronize_session=False)).rowcount


# -- archives ------------------------------------------------------------------------------------------
def archive_path(directory: Path, m: date, first: int, last: int) -> Path:
    """One file per retirement, named by its month and first and last ids: a retirement run again after a
    crash rewrites the same file, rows that came late for an archived month get a file of their own."""
    return directory / f"{partition_name(m)}.{first}-{last}.csv.gz"


def _archive(db: Session, m: date, name: str, first: int, last: int, partitioned: bool, directory: Path) -> Path:
    """The month's rows as gzip CSV (a header, then COLUMNS; times in UTC as PostgreSQL prints them, `data` as
    its JSON text), written beside its final name and renamed into place once on disk."""
    path = archive_path(directory, m, first, last)
    part = path.with_name(path.name + ".part")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as raw:
            with gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw, mtime=0) as gz:
                if partitioned:
                    _copy_out(db, name, gz)
                else:
                    _write_rows(db, m, gz)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(part, path)
    except OSError as exc:  # the month stays in the log (its transaction rolls back); said in one line
        part.unlink(missing_ok=True)
        raise ConfigError(f"PARKING_EVENT_LOG_ARCHIVE_DIR={str(directory)!r}: cannot write {path.name}: {exc.strerror or exc}",
                          field="PARKING_EVENT_LOG_ARCHIVE_DIR", value=str(directory)) from exc
    return path


def _copy_out(db: Session, name: str, out: Any) -> None:
    """PostgreSQL's COPY to the client (no file on the database server, no superuser)."""
    db.execute(text("SET LOCAL TimeZone = 'UTC'"))
    cur = db.connection().connection.driver_connection.cursor()
    try:
        with cur.copy(f'COPY (SELECT {", ".join(COLUMNS)} FROM "{name}" ORDER BY ts, id) TO STDOUT WITH (FORMAT csv, HEADER)') as copy:
            for block in copy:
                out.write(block)
    finally:
        cur.close()


def _write_rows(db: Session, m: date, out: Any) -> None:
    text_out = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text_out, lineterminator="\n")
    writer.writerow(COLUMNS)
    E = OccupancyEvent
    q = select(E.id, E.lot_id, E.kind, E.subject, E.dedupe_key, E.ts, E.received_at, E.data).where(*_in_month(m)).order_by(E.ts, E.id)
    for row in db.execute(q).yield_per(5000):
        writer.writerow((row.id, row.lot_id, row.kind, row.subject, row.dedupe_key, _pg_time(row.ts), _pg_time(row.received_at),
                         orjson.dumps(row.data).decode()))
    text_out.flush()
    text_out.detach()


def _pg_time(ts: datetime) -> str:
    """A UTC instant as PostgreSQL's COPY prints a timestamptz with TimeZone UTC: `2026-12-01 08:00:00.5+00`."""
    utc = ts.astimezone(UTC)
    frac = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return f"{utc:%Y-%m-%d %H:%M:%S}{frac}+00"


# -- the daily run -------------------------------------------------------------------------------------
def daily_event_log(job: EventLogMaintenance, *, check_every_s: float = 60.0) -> DailySchedule[PartitionReport]:
    """The maintenance once per Shanghai day from PARKING_EVENT_LOG_HOUR (-1: never); a failed run (a lock
    not granted within 10 s, the archive disk full) is tried again after 30 minutes."""
    return DailySchedule(name="event-log partitions", clock=job.clock, hour=job.settings.hour, work=lambda _day: job.run(),
                         check_every_s=check_every_s, retry=timedelta(minutes=30), log=log)


def event_log_maintenance(uow: Callable[[], UnitOfWork], clock: Callable[[], datetime],
                          settings: EventLogSettings | None = None) -> EventLogMaintenance:
    return EventLogMaintenance(uow=uow, clock=clock, settings=settings or load_event_log_settings())


__all__ = ["EventLogMaintenance", "EventLogSettings", "PartitionReport", "RetiredMonth", "add_months", "archive_path",
           "daily_event_log", "event_log_maintenance", "load_event_log_settings", "month_of", "month_start", "partition_name"]
