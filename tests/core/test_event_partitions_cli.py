"""`parking events partitions [--dry-run]` on PostgreSQL, its settings named when bad, and its daily run inside the
platform that ingests (`parking serve`), at PARKING_EVENT_LOG_HOUR."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from gateways.cli.main import app
from parking_core.errors import ConfigError
from parking_core.event_log_partitions import PartitionReport
from sensors.broker import free_port
from tests.core.test_event_partitions import berth, log, sh


def test_the_command_says_what_it_would_do_then_does_it_then_finds_nothing(pg_url, tmp_path):
    from parking_core.db import make_engine

    env = {"DATABASE_URL": pg_url, "PARKING_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", "PARKING_EVENT_LOG_MONTHS": "13"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    engine = make_engine(pg_url)
    try:
        log(engine, [berth(1, sh("2020-03-10T12:00:00"))])  # a device whose clock was years behind: kept in the default

        dry = runner.invoke(app, ["events", "partitions", "--dry-run"], env=env)
        assert dry.exit_code == 0, dry.output
        assert "occupancy_events_2020_03: would be made" in dry.output
        assert "2020-03: 1 rows would be dropped" in dry.output and "dry run: nothing changed" in dry.output
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM occupancy_events_default")).scalar() == 1

        done = runner.invoke(app, ["events", "partitions"], env=env)
        assert done.exit_code == 0, done.output
        assert "occupancy_events_2020_03: made" in done.output and "2020-03: 1 rows dropped" in done.output
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM occupancy_events")).scalar() == 0
            assert c.execute(text("SELECT to_regclass('occupancy_events_2020_03')")).scalar() is None

        again = runner.invoke(app, ["events", "partitions"], env=env)
        assert again.exit_code == 0 and "nothing to do" in again.output
    finally:
        engine.dispose()


@pytest.mark.parametrize(("name", "value", "said"), [
    ("PARKING_EVENT_LOG_MONTHS", "1", "must be 0 (keep every month) or at least 2"),
    ("PARKING_EVENT_LOG_MONTHS", "a year", "valid integer"),
    ("PARKING_EVENT_LOG_HOUR", "24", "less than or equal to 23"),
])
def test_a_bad_setting_is_one_line_naming_it(tmp_path, monkeypatch, name, value, said):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", name: value}
    r = CliRunner().invoke(app, ["events", "partitions"], env=env)
    assert r.exit_code == 2 and f"{name}={value!r}" in r.output and said in r.output
    from gateways.config import load_config

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}="):
        load_config()


def test_an_archive_directory_that_is_a_file_is_refused(tmp_path, monkeypatch):
    from gateways.config import load_config

    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("PARKING_EVENT_LOG_ARCHIVE_DIR", str(tmp_path / "afile"))
    with pytest.raises(ConfigError, match="^PARKING_EVENT_LOG_ARCHIVE_DIR=.*not a directory"):
        load_config()


def test_the_ingesting_platform_runs_it_daily_from_its_hour(make_platform, monkeypatch):
    monkeypatch.setenv("PARKING_EMBEDDED_MQTT_PORT", str(free_port()))
    monkeypatch.setenv("PARKING_EVENT_LOG_HOUR", "11")
    p = make_platform(now=sh("2026-12-02T10:59:00"), with_ingest=True)
    daily = p.event_log_daily
    assert daily is not None and daily.hour == 11 and daily._thread.is_alive()
    assert daily.run_once() is None  # 10:59 in Shanghai: not yet
    p.clock.advance(minutes=1)
    report = daily.run_once()
    assert isinstance(report, PartitionReport) and daily.run_once() is None  # once a day


def test_an_offline_platform_runs_no_daily_job(make_platform):
    assert make_platform().event_log_daily is None  # commands and HTTP-only processes leave it to the ingest's worker 0


