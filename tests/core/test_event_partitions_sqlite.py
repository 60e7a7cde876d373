"""The embedded default (SQLite) has no partitions: migration 0012 keeps the plain table and every row, only the
de-duplication moves to the key table; retirement deletes (and archives) exactly the old months' rows; the archive a
month becomes is the same file, byte for byte once unzipped, on SQLite and on PostgreSQL."""
from __future__ import annotations

import gzip
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateways.schema import alembic_config, upgrade
from parking_core.db import make_engine
from tests.core.test_event_partitions import berth, job, keys, log, model_diff, planted, sh
from tests.factories import FrozenClock

UTC = timezone.utc


@pytest.fixture
def sqlite(tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    yield e
    e.dispose()


def logged(engine) -> dict[int, tuple]:
    with engine.connect() as c:
        return {r[0]: tuple(r[1:]) for r in c.execute(text("SELECT id, lot_id, dedupe_key, ts, data FROM occupancy_events"))}


def test_0012_on_sqlite_keeps_the_plain_table_and_every_row_and_downgrades(sqlite):
    upgrade(sqlite, "0011")
    with sqlite.begin() as c:
        for key, ts in (("b:b1:1", "2025-01-31 15:59:59.999999"), ("b:b1:2", "2025-01-31 16:00:00.000000")):
            c.execute(text("INSERT INTO occupancy_events (lot_id, kind, subject, dedupe_key, ts, received_at, data) "
                           "VALUES ('S1', 'berth', 'b1', :k, :t, :t, '{}')"), {"k": key, "t": ts})
    before = logged(sqlite)
    upgrade(sqlite)
    assert logged(sqlite) == before
    assert keys(sqlite) == {("S1", "b:b1:1"), ("S1", "b:b1:2")}
    assert inspect(sqlite).get_unique_constraints("occupancy_events") == []
    assert [i["name"] for i in inspect(sqlite).get_indexes("occupancy_events")] == ["ix_occupancy_events_lot_ts"]
    assert model_diff(sqlite) == []
    assert log(sqlite, [berth(1, datetime(2025, 3, 1, tzinfo=UTC))]) == []  # a duplicate: its key came over
    assert len(log(sqlite, [berth(3, datetime(2025, 3, 1, tzinfo=UTC))])) == 1
    assert max(logged(sqlite)) == max(before) + 1  # ids still numbered by SQLite

    cfg = alembic_config(str(sqlite.url))
    with sqlite.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    assert len(logged(sqlite)) == 3 and "occupancy_event_keys" not in inspect(sqlite).get_table_names()
    assert [u["name"] for u in inspect(sqlite).get_unique_constraints("occupancy_events")] == ["uq_occupancy_events_lot_key"]


def test_on_sqlite_retirement_deletes_exactly_the_old_months_and_a_second_run_changes_nothing(sqlite, tmp_path):
    upgrade(sqlite)
    planted(sqlite)
    clock = FrozenClock(sh("2027-06-15T10:00:00"))
    archive = tmp_path / "archive"
    report = job(sqlite, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(archive)).run()
    assert not report.partitioned and report.created == [] and report.moved == 0
    assert [(f"{m.month:%Y-%m}", m.rows) for m in report.retired] == [("2027-02", 1), ("2027-03", 2)]
    assert {key for _, key, _, _ in logged(sqlite).values()} == {"b:b1:3", "b:b1:4"}
    assert keys(sqlite) == {("S1", "b:b1:3"), ("S1", "b:b1:4")}
    assert sorted(p.name.split(".")[0] for p in archive.iterdir()) == ["occupancy_events_2027_02", "occupancy_events_2027_03"]

    state = (logged(sqlite), keys(sqlite), sorted(p.name for p in archive.iterdir()))
    again = job(sqlite, clock, PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(archive)).run()
    assert (again.created, again.retired, again.held) == ([], [], {})
    assert (logged(sqlite), keys(sqlite), sorted(p.name for p in archive.iterdir())) == state


def test_a_months_archive_is_the_same_file_from_sqlite_and_from_postgresql(sqlite, pg_url, tmp_path):
    pg = make_engine(pg_url)
    try:
        texts = {}
        for name, engine in (("sqlite", sqlite), ("postgresql", pg)):
            upgrade(engine)
            planted(engine)
            out = tmp_path / name
            job(engine, FrozenClock(sh("2027-06-15T10:00:00")), PARKING_EVENT_LOG_MONTHS=3, PARKING_EVENT_LOG_ARCHIVE_DIR=str(out)).run()
            texts[name] = {p.name: gzip.decompress(p.read_bytes()).decode() for p in out.iterdir()}
        assert texts["sqlite"] == texts["postgresql"] and len(texts["sqlite"]) == 2
    finally:
        pg.dispose()
