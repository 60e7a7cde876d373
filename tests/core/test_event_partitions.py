"""The occupancy event log partitioned by Shanghai month on the real PostgreSQL: migration 0012 carries every row
over, inserts land in their month (or the default partition, never refused), maintenance makes partitions ahead and
empties the default, retirement archives or drops exactly the months past PARKING_EVENT_LOG_MONTHS, and a second
run changes nothing."""
from __future__ import annotations

import csv
import gzip
import io
import threading
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import sessionmaker

from gateways.schema import alembic_config, upgrade
from parking_core.audit import AuditRecord
from parking_core.clock import SHANGHAI
from parking_core.db import UnitOfWork, make_engine
from parking_core.event_log_partitions import (
    COLUMNS,
    EventLogMaintenance,
    EventLogSettings,
    add_months,
    month_of,
    partition_name,
)
from parking_core.eventlog import append_events
from parking_core.events import BerthReported, PassageReported
from tests.factories import FrozenClock

UTC = timezone.utc


def sh(text_: str) -> datetime:
    """A Shanghai wall-clock instant."""
    return datetime.fromisoformat(text_).replace(tzinfo=SHANGHAI)


def berth(seq: int, at: datetime, lot: str = "S1", b: str = "b1") -> BerthReported:
    return BerthReported(lot_id=lot, berth_id=b, occupied=bool(seq % 2), seq=seq, ts=at)


@pytest.fixture
def engine(pg_url):
    e = make_engine(pg_url)
    yield e
    e.dispose()


def uow_of(engine):
    factory = sessionmaker(engine, expire_on_commit=False)
    return lambda: UnitOfWork(factory)


def log(engine, events, received_at=None) -> list:
    with uow_of(engine)() as uow:
        fresh = append_events(uow.session, events, received_at or datetime(2027, 1, 1, tzinfo=UTC))
        uow.commit()
    return fresh


def rows(engine) -> dict[int, tuple]:
    """Every logged row by id: (where it lives, lot, key, ts, data)."""
    with engine.connect() as c:
        return {r[0]: tuple(r[1:]) for r in c.execute(text(
            "SELECT id, tableoid::regclass::text, lot_id, dedupe_key, ts, data::text FROM occupancy_events"))}


def keys(engine) -> set[tuple[str, str]]:
    with engine.connect() as c:
        return set(map(tuple, c.execute(text("SELECT lot_id, dedupe_key FROM occupancy_event_keys"))))


def partitions(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                  "WHERE i.inhparent = 'occupancy_events'::regclass")).scalars())


def model_diff(engine) -> list:
    """What the models say of the log and its key table that the database does not (its partitions aside)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateways.schema import import_all_models
    from parking_core.models import Base

    import_all_models()
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    return [d for d in diff if any(f"'{t}'" in repr(d) for t in ("occupancy_events", "occupancy_event_keys"))]


def job(engine, clock, **settings) -> EventLogMaintenance:
    return EventLogMaintenance(uow=uow_of(engine), clock=clock, settings=EventLogSettings(**settings))


# -- migration 0012 ------------------------------------------------------------------------------------------
OLD_ROWS = [  # (lot, key, ts as UTC, the Shanghai month it belongs to)
    ("S1", "b:b1:1", "2025-01-31 15:59:59.999999+00", "2025_01"),  # 23:59:59.999999 on 31 January in Shanghai
    ("S1", "b:b1:2", "2025-01-31 16:00:00+00", "2025_02"),  # midnight, 1 February in Shanghai: February's
    ("G1", "p:e1", "2026-06-10 03:00:00+00", "2026_06"),
    ("G1", "p:e2", "2026-06-10 03:00:00+00", "2026_06"),
]


def test_0012_carries_every_row_over_into_its_shanghai_month_and_downgrades_back(engine):
    upgrade(engine, "0011")
    with engine.begin() as c:
        for lot, key, ts, _ in OLD_ROWS:
            c.execute(text("INSERT INTO occupancy_events (lot_id, kind, subject, dedupe_key, ts, received_at, data) "
                           "VALUES (:l, 'berth', 'b1', :k, :t, :t, '{\"plate\": \"苏E12345\"}')"), {"l": lot, "k": key, "t": ts})
        before = {r[0]: tuple(r[1:]) for r in c.execute(text("SELECT id, lot_id, dedupe_key, ts, data::text FROM occupancy_events"))}

    upgrade(engine, "0012")
    after = rows(engine)
    assert {i: (lot, key, ts, data) for i, (_, lot, key, ts, data) in after.items()} == before  # every row, its id, as it was
    assert sorted(where for where, *_ in after.values()) == sorted(f"occupancy_events_{m}" for *_, m in OLD_ROWS)
    assert keys(engine) == {(lot, key) for lot, key, _, _ in OLD_ROWS}
    now = month_of(datetime.now(UTC))
    assert {partition_name(now), partition_name(add_months(now, 1)), "occupancy_events_default"} <= partitions(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'occupancy_events'")).scalar() == "p"
    pk = inspect(engine).get_pk_constraint("occupancy_events")
    assert (pk["name"], pk["constrained_columns"]) == ("pk_occupancy_events", ["id", "ts"])
    assert {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("occupancy_events")} == \
        {"ix_occupancy_events_lot_ts": ["lot_id", "ts"]}
    assert model_diff(engine) == []

    # the same message again is a duplicate (its key came over); a new one gets the next id of the same sequence
    assert log(engine, [berth(1, datetime(2025, 1, 31, 15, 59, tzinfo=UTC))]) == []
    assert len(log(engine, [berth(3, datetime(2025, 2, 2, tzinfo=UTC))])) == 1
    assert max(rows(engine)) == max(before) + 1

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM occupancy_events")).scalar() == len(before) + 1
        assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'occupancy_events'")).scalar() == "r"
    assert "occupancy_event_keys" not in inspect(engine).get_table_names()
    assert [u["name"] for u in inspect(engine).get_unique_constraints("occupancy_events")] == ["uq_occupancy_events_lot_key"]
    upgrade(engine)
    assert len(rows(engine)) == len(before) + 1 and len(keys(engine)) == len(before) + 1


# -- where rows go, and partitions ahead ----------------------------------------------------------------------
def test_inserts_land_in_their_month_and_maintenance_makes_this_and_next_month_ahead(engine):
    upgrade(engine)
    clock = FrozenClock(sh("2031-05-31T23:30:00"))
    first = job(engine, clock, PARKING_EVENT_LOG_MONTHS=0).run()
    assert {"occupancy_events_2031_05", "occupancy_events_2031_06"} <= set(first.created)
    assert first.retired == [] and first.keep_from is None  # 0: every month kept

    last_of_may, first_of_june = sh("2031-05-31T23:59:59.999999"), sh("2031-06-01T00:00:00")
    log(engine, [berth(1, last_of_may), berth(2, first_of_june), berth(3, sh("2031-09-01T08:00:00"))])
    where = {key: place for place, _, key, _, _ in rows(engine).values()}
    assert where == {"b:b1:1": "occupancy_events_2031_05", "b:b1:2": "occupancy_events_2031_06",
                     "b:b1:3": "occupancy_events_default"}  # September has no partition: kept in the default, not refused

    again = job(engine, clock, PARKING_EVENT_LOG_MONTHS=0).run()
    assert again.created == ["occupancy_events_2031_09"] and again.moved == 1
    assert {key: place for place, _, key, _, _ in rows(engine).values()}["b:b1:3"] == "occupancy_events_2031_09"
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM occupancy_events_default")).scalar() == 0
        audit = c.execute(select(AuditRecord.subject, AuditRecord.after).where(AuditRecord.action == "event_log.partition_created")
                          .where(AuditRecord.subject == "occupancy_events_2031_09")).one()
    assert audit.after == {"month": "2031-09", "rows_moved_from_default": 1}

    before = (rows(engine), partitions(engine))
    third = job(engine, clock, PARKING_EVENT_LOG_MONTHS=0).run()
    assert (third.created, third.moved, third.retired) == ([], 0, [])
    assert (rows(engine), partitions(engine)) == before  # running again changes nothing


def test_rows_written_while_their_month_is_being_made_are_all_kept(engine):
    """A writer keeps logging into a month with no partition while maintenance makes it: every row is there
    afterwards, once, in the month's partition (moved, or routed there once it exists), none left in the default."""
    upgrade(engine)
    month = sh("2032-03-10T12:00:00")
    stop, written, errors = threading.Event(), [], []

    def write(seq: int) -> None:
        written.extend(e.dedupe_key for e in log(engine, [berth(seq + k, month + timedelta(seconds=seq + k)) for k in range(25)]))

    def writer() -> None:
        seq = 25
        try:
            while not stop.is_set():
                write(seq)
                seq += 25
            write(seq)  # and one batch once the partition exists
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    write(0)  # rows waiting in the default before maintenance starts
    t = threading.Thread(target=writer)
    t.start()
    try:
        report = job(engine, FrozenClock(sh("2032-03-01T04:00:00")), PARKING_EVENT_LOG_MONTHS=0).run()
    finally:
        stop.set()
        t.join(60)
    assert errors == [] and "occupancy_events_2032_03" in report.created and report.moved >= 25
    logged = rows(engine)
    assert len(logged) == len(written) == len(set(written)) > report.moved
    assert {place for place, *_ in logged.values()} == {"occupancy_events_2032_03"}


# -- retirement ------------------------------------------------------------------------------------------------
HASHED = "#0123456789abcde"


def planted(engine) -> dict[str, datetime]:
    """Events on both sides of the retention edge: with 3 months kept on 15 June 2027, April is the oldest kept."""
    at = {"feb": sh("2027-02-10T12:00:00"), "mar_last": sh("2027-03-31T23:59:59.999000"),
          "apr_first": sh("2027-04-01T00:00:00"), "jun": sh("2027-06-15T09:00:00")}
    log(engine, [berth(1, at["feb"]), berth(2, at["mar_last"]), berth(3, at["apr_first"]), berth(4, at["jun"]),
                 PassageReported(lot_id="G1", gate_id="g1", event_id="e9", direction="in", plate=HASHED, ts=at["mar_last"])])
    return at


def read_archive(path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.reader(io.StringIO(f.read())))


def test_retirement_archives_exactly_the_months_past_the_kept_ones_and_a_second_run_changes_nothing(engine, tmp_path):
    upgrade(engine)
    at = planted(engine)
    clock = FrozenClock(sh("2027-06-15T10:00:00"))
    archive = tmp_path / "archive"
    by_key = {key: i for i, (_, _, key, _, _) in rows(engine).items()}

    report = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(archive)).run()
    assert str(report.keep_from) == "2027-04-01"
    assert {f"{m.month:%Y-%m}": m.rows for m in report.retired if m.rows} == {"2027-02": 1, "2027-03": 2}
    assert all(m.month < report.keep_from for m in report.retired)  # the migration's empty months, if older, go too
    assert {m for m in partitions(engine) if m != "occupancy_events_default"} >= {
        "occupancy_events_2027_04", "occupancy_events_2027_06", "occupancy_events_2027_07"}
    assert all(name >= "occupancy_events_2027_04" for name in partitions(engine))

    left = rows(engine)
    assert {key for _, _, key, _, _ in left.values()} == {"b:b1:3", "b:b1:4"}  # April's first instant and June's
    assert keys(engine) == {("S1", "b:b1:3"), ("S1", "b:b1:4")}  # the retired rows' keys went with them

    files = sorted(p.name for p in archive.iterdir())
    assert files == [f"occupancy_events_2027_02.{by_key['b:b1:1']}-{by_key['b:b1:1']}.csv.gz",
                     f"occupancy_events_2027_03.{min(by_key['b:b1:2'], by_key['p:e9'])}-{max(by_key['b:b1:2'], by_key['p:e9'])}.csv.gz"]
    march = read_archive(archive / files[1])
    assert march[0] == list(COLUMNS)
    assert [(r[1], r[4], r[5]) for r in march[1:]] == [("S1", "b:b1:2", "2027-03-31 15:59:59.999+00"),
                                                      ("G1", "p:e9", "2027-03-31 15:59:59.999+00")]
    assert HASHED in march[2][7]
    with engine.connect() as c:
        audit = c.execute(select(AuditRecord.after).where(AuditRecord.action == "event_log.month_retired",
                                                          AuditRecord.subject == "occupancy_events_2027_03")).scalar_one()
    assert audit == {"archived": str(archive / files[1]), "rows_removed": 2, "keys_removed": 2}

    stamps = {p.name: p.stat().st_mtime_ns for p in archive.iterdir()}
    state = (rows(engine), keys(engine), partitions(engine))
    again = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(archive)).run()
    assert (again.created, again.retired, again.moved) == ([], [], 0)
    assert (rows(engine), keys(engine), partitions(engine)) == state
    assert {p.name: p.stat().st_mtime_ns for p in archive.iterdir()} == stamps

    # de-duplication spans the kept months: April's event is still a duplicate; February's, past them, is new
    # again, waits in the default and is archived next run in a file of its own (the first one is never rewritten)
    assert log(engine, [berth(3, at["apr_first"])]) == []
    assert len(log(engine, [berth(1, at["feb"])])) == 1
    late = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(archive)).run()
    assert [(f"{m.month:%Y-%m}", m.rows) for m in late.retired] == [("2027-02", 1)]
    assert len(list(archive.iterdir())) == 3 and {p.name: p.stat().st_mtime_ns for p in archive.iterdir() if p.name in stamps} == stamps


def test_without_an_archive_directory_old_months_are_dropped(engine):
    upgrade(engine)
    planted(engine)
    report = job(engine, FrozenClock(sh("2027-06-15T10:00:00")), PARKING_EVENT_LOG_MONTHS=3).run()
    assert {f"{m.month:%Y-%m}": (m.rows, m.archive) for m in report.retired if m.rows} == {"2027-02": (1, None), "2027-03": (2, None)}
    assert {key for _, _, key, _, _ in rows(engine).values()} == {"b:b1:3", "b:b1:4"}


def test_a_dry_run_says_what_would_go_and_changes_nothing(engine, tmp_path):
    upgrade(engine)
    planted(engine)
    state = (rows(engine), keys(engine), partitions(engine))
    dry = job(engine, FrozenClock(sh("2027-06-15T10:00:00")), PARKING_EVENT_LOG_MONTHS=3,
              PARKING_EVENT_LOG_ARCHIVE_DIR=str(tmp_path / "a")).run(dry_run=True)
    assert {f"{m.month:%Y-%m}": m.rows for m in dry.retired if m.rows} == {"2027-02": 1, "2027-03": 2}
    assert {"occupancy_events_2027_02", "occupancy_events_2027_06", "occupancy_events_2027_07"} <= set(dry.created)
    assert (rows(engine), keys(engine), partitions(engine)) == state
    assert not (tmp_path / "a").exists()


def test_a_month_still_holding_plates_in_the_clear_is_never_archived(engine, tmp_path):
    """An archive is out of the plate retention's reach (parking_core/retention.py): such a month waits, attached."""
    upgrade(engine)
    old = sh("2027-02-10T12:00:00")
    log(engine, [PassageReported(lot_id="G1", gate_id="g1", event_id="e1", direction="in", plate="苏E12345", ts=old)])
    clock = FrozenClock(sh("2027-06-15T10:00:00"))
    report = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(tmp_path / "a")).run()
    assert {f"{m:%Y-%m}": n for m, n in report.held.items()} == {"2027-02": 1}
    assert "2027-02" not in {f"{m.month:%Y-%m}" for m in report.retired}
    assert "occupancy_events_2027_02" in partitions(engine) and len(rows(engine)) == 1
    assert not any((tmp_path / "a").glob("*2027_02*"))
    dropped = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3).run()  # dropping takes the plate out of the world
    assert [(f"{m.month:%Y-%m}", m.rows) for m in dropped.retired if m.rows] == [("2027-02", 1)] and rows(engine) == {}


def test_a_retirement_interrupted_after_the_detach_is_finished_by_the_next_run(engine, tmp_path):
    upgrade(engine)
    planted(engine)
    clock = FrozenClock(sh("2027-06-15T10:00:00"))
    job(engine, clock, PARKING_EVENT_LOG_MONTHS=0).run()  # February's partition made, then the crash mid-retirement:
    with engine.begin() as c:
        c.execute(text("ALTER TABLE occupancy_events DETACH PARTITION occupancy_events_2027_02"))
    assert log(engine, [berth(1, sh("2027-02-10T12:00:00"))]) == []  # its keys still hold while it waits
    report = job(engine, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(tmp_path / "a")).run()
    assert ("2027-02", 1) in [(f"{m.month:%Y-%m}", m.rows) for m in report.retired]
    with engine.connect() as c:
        assert c.execute(text("SELECT to_regclass('occupancy_events_2027_02')")).scalar() is None
    assert len(read_archive(next((tmp_path / "a").glob("occupancy_events_2027_02.*")))) == 2  # header and the row
