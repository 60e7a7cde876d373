"""`parking privacy retention [--dry-run]` on an embedded database, and the daily schedule inside `parking serve`."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from gateways.cli.main import app
from parking_core.retention_daily import DailyRetention
from tests.factories import FrozenClock

OLD = datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_the_command_counts_then_hashes_then_finds_nothing_more(tmp_path):
    db = tmp_path / "p.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "PARKING_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as c:
        c.execute(text("INSERT INTO occupancy_events (lot_id, kind, subject, dedupe_key, ts, received_at, data) VALUES "
                       "('L1', 'passage', 'g1', 'p:e1', :ts, :ts, :data)"),
                  {"ts": OLD.replace(tzinfo=None), "data": '{"plate": "苏E12345", "direction": "in", "event_id": "e1"}'})

    dry = runner.invoke(app, ["privacy", "retention", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "events: 1 due" in dry.output and "nothing changed" in dry.output
    with engine.connect() as c:
        assert "苏E12345" in c.execute(text("SELECT data FROM occupancy_events")).scalar_one()

    done = runner.invoke(app, ["privacy", "retention"], env=env)
    assert done.exit_code == 0, done.output
    assert "events: 1 due, hashed 1" in done.output
    with engine.connect() as c:
        assert "苏E12345" not in c.execute(text("SELECT data FROM occupancy_events")).scalar_one()

    again = runner.invoke(app, ["privacy", "retention"], env=env)
    assert "events: 0 due, hashed 0" in again.output


def test_a_bad_setting_is_named(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PARKING_RETAIN_EVENTS_DAYS": "0"}
    r = CliRunner().invoke(app, ["privacy", "retention"], env=env)
    assert r.exit_code == 2 and "PARKING_RETAIN_EVENTS_DAYS='0'" in r.output


class CountingJob:
    """Stands for RetentionJob: counts runs, fails when told."""

    def __init__(self, clock) -> None:
        self.clock, self.runs, self.fail = clock, 0, False

    def run(self):
        self.runs += 1
        if self.fail:
            raise ConnectionError("database away")
        return "report"


def test_daily_once_from_the_hour_retried_after_a_failure_never_at_minus_one():
    clock = FrozenClock(datetime(2026, 12, 1, 18, 59, tzinfo=timezone.utc))  # 02:59 in Shanghai
    job = CountingJob(clock)
    daily = DailyRetention(job, hour=3)
    assert daily.run_once() is None and job.runs == 0
    clock.advance(minutes=1)  # 03:00
    assert daily.run_once() == "report" and job.runs == 1
    clock.advance(hours=5)
    assert daily.run_once() is None and job.runs == 1  # once a day
    clock.advance(hours=19)  # the next day, 03:00
    job.fail = True
    assert daily.run_once() is None and job.runs == 2
    clock.advance(minutes=10)
    assert daily.run_once() is None and job.runs == 2  # waits 30 minutes before trying again
    job.fail = False
    clock.advance(minutes=20)
    assert daily.run_once() == "report" and job.runs == 3
    never = DailyRetention(CountingJob(clock), hour=-1)
    assert never.run_once() is None and never.job.runs == 0 and never.start()._thread is None
