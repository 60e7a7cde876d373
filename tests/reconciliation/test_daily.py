"""The daily run: yesterday, once, from PARKING_RECONCILE_HOUR (Shanghai) on; a failed day is tried again later;
-1 never runs; the app starts the schedule with itself and stops it with itself."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from billing.reconciliation_daily import DailyReconciliation
from billing.reconciliation_settings import load_reconciliation_settings
from gateways.http.app import create_app
from parking_core.clock import SHANGHAI
from parking_core.errors import ConfigError
from tests.factories import FrozenClock


def _daily(clock, hour=10):
    return DailyReconciliation(uow=None, clock=clock, client=lambda: None, hour=hour)


def test_yesterday_is_due_from_the_hour_on_and_only_once():
    clock = FrozenClock(datetime(2026, 11, 23, 9, 59, tzinfo=SHANGHAI))
    daily = _daily(clock)
    assert daily.due(clock()) is None  # before 10:00 Shanghai
    clock.advance(minutes=1)
    assert daily.due(clock()) == datetime(2026, 11, 22).date()
    daily.done = datetime(2026, 11, 22).date()
    assert daily.due(clock()) is None  # done today
    clock.advance(days=1)
    assert daily.due(clock()) == datetime(2026, 11, 23).date()
    assert _daily(clock, hour=-1).due(clock()) is None  # -1: never


def test_a_failed_day_waits_for_its_retry():
    clock = FrozenClock(datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI))
    daily = _daily(clock)
    daily._next_try = clock() + timedelta(minutes=10)
    assert daily.due(clock()) is None
    clock.advance(minutes=10)
    assert daily.due(clock()) == datetime(2026, 11, 22).date()


def test_the_hour_setting_is_checked():
    assert load_reconciliation_settings(PARKING_RECONCILE_HOUR="7").reconcile_hour == 7
    with pytest.raises(ConfigError) as bad:
        load_reconciliation_settings(PARKING_RECONCILE_HOUR="24")
    assert bad.value.field == "PARKING_RECONCILE_HOUR"


def test_the_app_runs_the_schedule_while_it_is_up(make_platform):
    app = create_app(make_platform())
    with TestClient(app):
        daily = app.state.daily_reconciliation
        assert daily.hour == 10 and daily._thread is not None and daily._thread.is_alive()
    assert daily._thread is None
