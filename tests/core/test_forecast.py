"""Forecasts learnt from the availability log: the day's rhythm, today's deviation, bounds, confidence."""
from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from parking_core.availability import Availability
from parking_core.clock import SHANGHAI
from parking_core.eventlog import append_availability
from parking_core.forecast import Forecaster, Observation, day_group, forecast_lot
from parking_core.lots import LotInfo, SharedHours

_ids = itertools.count(1)


def local(day: str, hhmm: str = "00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI)


def log(lot: str, total: int, start: datetime, days: int, occupied: Callable[[datetime], float]) -> list[tuple]:
    """Availability rows every 15 minutes for `days` days: what the ingest logs as the lot changes."""
    rows = []
    for k in range(days * 96):
        t = start + timedelta(minutes=15 * k)
        free = total - round(total * min(1.0, max(0.0, occupied(t))))
        rows.append((next(_ids), lot, t, free, total, "full" if free == 0 else "spacesAvailable"))
    return rows


def office(t: datetime) -> float:
    """Full from 09:00 to 17:00 on working days, nearly empty otherwise."""
    _, working = day_group((t.date() - datetime(1970, 1, 1).date()).days)
    return 0.95 if working and 9 <= t.hour < 17 else 0.05


def test_the_morning_rush_is_forecast_on_working_days_and_not_at_the_weekend():
    rows = log("OF", 100, local("2026-11-02"), 21, office)
    now = local("2026-11-23", "08:15")  # a Monday
    f = Forecaster.from_rows(rows, now)
    monday = f.predict("OF", now, 60, current=Observation(free=95, total=100, at=now))
    assert monday.free < 20  # "same as now" would say 95
    saturday = local("2026-11-28", "08:15")
    weekend = f.predict("OF", saturday, 60, current=Observation(free=95, total=100, at=saturday))
    assert weekend.free > 85


def test_a_public_holiday_is_forecast_like_a_rest_day_not_like_its_weekday():
    rows = log("OF", 100, local("2026-08-27"), 35, office)  # through 2026-09-30, working Sunday 09-20 included
    f = Forecaster.from_rows(rows, local("2026-10-01"))
    national_day = f.predict("OF", local("2026-10-01", "10:00"), 30)  # a Thursday, but a holiday
    ordinary_thursday = f.predict("OF", local("2026-10-08", "10:00"), 30)
    assert national_day.free >= 80
    assert ordinary_thursday.free < 15


def _lots(days: int = 28) -> tuple[Forecaster, datetime]:
    """Half full on average. P's busy or quiet days last all day; N's deviations are gone within 15 minutes;
    A's fade over an hour or so."""
    rnd = random.Random(3)
    offsets = {d: rnd.uniform(-0.3, 0.3) for d in range(days)}
    start = local("2026-10-26")
    drift = [0.0]

    def fading(t: datetime) -> float:
        drift[0] = 0.7 * drift[0] + rnd.gauss(0, 0.1)
        return 0.5 + drift[0]

    rows = (log("P", 100, start, days, lambda t: 0.5 + offsets[(t - start).days])
            + log("N", 100, start, days, lambda t: 0.5 + rnd.uniform(-0.3, 0.3))
            + log("A", 100, start, days, fading))
    now = start + timedelta(days=days, hours=14)
    return Forecaster.from_rows(rows, now), now


def _profile_free(f: Forecaster, lot: str, at: datetime) -> float:
    return 100 * (1 - f._series[lot].model.level(at.timestamp()))


def test_a_lasting_deviation_is_carried_forward_and_a_passing_one_is_not():
    f, now = _lots()
    later = now + timedelta(minutes=60)
    quiet = {lot: Observation(free=round(_profile_free(f, lot, now)) + 30, total=100, at=now) for lot in ("P", "N")}
    assert f.predict("P", now, 60, current=quiet["P"]).free - _profile_free(f, "P", later) >= 20
    assert abs(f.predict("N", now, 60, current=quiet["N"]).free - _profile_free(f, "N", later)) <= 8


def test_forecasts_blend_toward_the_profile_as_the_horizon_grows():
    f, now = _lots()
    current = Observation(free=round(_profile_free(f, "A", now)) + 30, total=100, at=now)
    left = [f.predict("A", now, h, current=current).free - _profile_free(f, "A", now + timedelta(minutes=h)) for h in (0, 15, 30, 60)]
    assert left[0] == pytest.approx(30, abs=1)
    assert left == sorted(left, reverse=True)
    assert left[-1] < 15


def test_forecasts_stay_within_capacity_and_the_interval_holds_the_forecast():
    f, now = _lots()
    for lot, free, h in itertools.product(("P", "N", "A"), (0, 1, 50, 99, 100), (0, 5, 15, 30, 60, 120, 600)):
        p = f.predict(lot, now, h, current=Observation(free=free, total=100, at=now))
        assert 0 <= p.low <= p.free <= p.high <= 100
        assert 0.0 <= p.confidence <= 1.0


def test_confidence_is_low_without_history_and_falls_with_the_horizon():
    f, now = _lots()
    current = Observation(free=50, total=100, at=now)
    learnt = [f.predict("P", now, h, current=current) for h in (15, 30, 60)]
    unknown = [f.predict("NEW", now, h, current=current) for h in (15, 30, 60)]
    assert [p.confidence for p in learnt] == sorted((p.confidence for p in learnt), reverse=True)
    assert [p.confidence for p in unknown] == sorted((p.confidence for p in unknown), reverse=True)
    assert all(u.confidence < k.confidence for u, k in zip(unknown, learnt))
    assert unknown[-1].confidence < 0.4
    assert unknown[0].free == 50 and "no history" in unknown[0].basis
    assert (unknown[-1].high - unknown[-1].low) > (learnt[-1].high - learnt[-1].low)


def test_an_old_count_is_trusted_less_than_a_fresh_one():
    f, now = _lots()
    fresh = f.predict("P", now, 15, current=Observation(free=50, total=100, at=now))
    old = f.predict("P", now, 15, current=Observation(free=50, total=100, at=now - timedelta(hours=2)))
    assert old.confidence < fresh.confidence


def test_nothing_known_gives_an_honest_empty_forecast():
    f = Forecaster.from_rows([], local("2026-11-23", "10:00"))
    p = f.predict("X", local("2026-11-23", "10:00"), 30)
    assert (p.free, p.confidence) == (0, 0.0) and "no data" in p.basis


def test_a_shared_lot_forecasts_nothing_free_while_closed_to_the_public():
    info = LotInfo(id="C1", name="Gov centre", kind="off_street", operator="op", district="d", lat=0, lon=0, total=110,
                   shared_hours=SharedHours.parse("18:00-08:00"))
    f = Forecaster.from_rows([], local("2026-11-23", "10:00"))
    closed = forecast_lot(f, info, None, local("2026-11-23", "17:00"), 30, heartbeat_timeout_s=900)
    assert (closed.free, closed.high) == (0, 0) and "18:00-08:00" in closed.basis
    opened = forecast_lot(f, info, None, local("2026-11-23", "17:50"), 30, heartbeat_timeout_s=900)
    assert "closed" not in opened.basis


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_forecaster_reads_the_log_once_then_only_what_is_new(make_platform):
    refresh_s = 300
    platform = make_platform()
    now = platform.clock()
    two_weeks = [(lot, t, Availability(free, total, status, t)) for _, lot, t, free, total, status in
                 log("G1", 3, local("2026-11-09"), 14, lambda t: 1.0 if 9 <= t.hour < 12 else 0.0)]
    with platform.uow() as uow:
        append_availability(uow.session, two_weeks)
        uow.commit()
    ticker = Ticker()
    f = Forecaster.for_database(platform.session_factory, refresh_s=refresh_s, monotonic=ticker)
    f.prepare(["G1"], now)
    assert f.wait_idle(10)
    first = f.predict("G1", now, 0)
    assert "profile of 15 days" in first.basis  # 14 whole days and this morning, 10:00 local
    assert first.free == 3  # the last logged value, in force since 23:45 yesterday
    with platform.uow() as uow:
        append_availability(uow.session, [("G1", now - timedelta(minutes=1), Availability(2, 3, "spacesAvailable", now))])
        uow.commit()
    f.prepare(["G1"], now)
    assert f.wait_idle(10)
    assert f.predict("G1", now, 0).free == 3  # not read again within refresh_s
    ticker.t += refresh_s
    f.prepare(["G1"], now)
    assert f.wait_idle(10)
    assert f.predict("G1", now, 0).free == 2


class SlowLog:
    """A log whose reads block until released, recording which thread asked: a database under load."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.release = threading.Event()
        self.threads: list[str] = []

    def __call__(self, lot_ids, since, after_id):  # noqa: ANN001
        self.threads.append(threading.current_thread().name)
        assert self.release.wait(10)
        return [r for r in self.rows if r[1] in lot_ids and r[2] >= since and r[0] > after_id]


def test_a_lot_without_history_in_memory_is_answered_at_once_and_says_its_history_is_loading():
    now = local("2026-11-23", "10:00")
    slow = SlowLog(log("NEW", 100, local("2026-11-09"), 14, office))
    f = Forecaster(slow, refresh_s=300)
    t = time.perf_counter()
    f.prepare(["NEW"], now, wait_s=10.0)
    p = f.predict("NEW", now, 30, current=Observation(free=40, total=100, at=now))
    assert time.perf_counter() - t < 0.5  # not the 10 s a request used to wait
    assert p.free == 40 and "no history yet, still loading" in p.basis and p.confidence < 0.4
    assert f.predict("NEW", now, 30).basis.startswith("no data")
    slow.release.set()
    assert f.wait_idle(10)
    learnt = f.predict("NEW", now, 30, current=Observation(free=40, total=100, at=now))
    assert "profile of 15 days" in learnt.basis and learnt.confidence > p.confidence
    assert slow.threads == ["forecast-learner"]  # the request thread never read the log


def test_a_lot_with_no_history_at_all_is_read_once_and_then_says_so():
    now = local("2026-11-23", "10:00")
    slow = SlowLog([])
    slow.release.set()
    f = Forecaster(slow, refresh_s=300)
    f.prepare(["EMPTY"], now)
    assert f.wait_idle(10)
    for _ in range(3):
        f.prepare(["EMPTY"], now)
    assert f.wait_idle(10)
    p = f.predict("EMPTY", now, 15, current=Observation(free=7, total=10, at=now))
    assert "no history yet" in p.basis and p.free == 7
    assert len(slow.threads) == 1


def test_new_rows_are_read_in_the_background_not_by_the_request():
    now = local("2026-11-23", "10:00")
    ticker = Ticker()
    slow = SlowLog(log("G1", 3, local("2026-11-09"), 14, office))
    slow.release.set()
    f = Forecaster(slow, refresh_s=300, monotonic=ticker)
    f.prepare(["G1"], now)
    assert f.wait_idle(10)
    slow.release.clear()  # the database is slow from now on
    ticker.t += 300
    t = time.perf_counter()
    f.prepare(["G1"], now)
    f.predict("G1", now, 15)
    assert time.perf_counter() - t < 0.5
    slow.release.set()
    assert f.wait_idle(10)
    assert slow.threads == ["forecast-learner", "forecast-learner"]
