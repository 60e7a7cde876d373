"""A job run once per Shanghai day, from a set hour on, on a thread of its own: what the platform's daily
work (reconciling yesterday's bill, hashing plates past their retention) shares.

A run that fails is tried again after `retry`; `hour` -1 means never. The job itself must be safe to run
twice (both of ours are: a day's cases are kept by key, hashed plates are not due again).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from parking_core.clock import local
from parking_core.errors import ParkingError

T = TypeVar("T")


def today(d: date) -> date:
    return d


def yesterday(d: date) -> date:
    return d - timedelta(days=1)


class DailySchedule(Generic[T]):
    """`work(day)` once a day: `day_of(today)` is the day it is about (today, or yesterday for T+1 bills)."""

    def __init__(self, *, name: str, clock: Callable[[], datetime], hour: int, work: Callable[[date], T],
                 day_of: Callable[[date], date] = today, ready: Callable[[], bool] = lambda: True,
                 check_every_s: float = 60.0, retry: timedelta = timedelta(minutes=10),
                 log: logging.Logger | None = None) -> None:
        self.name, self.clock, self.hour, self.work, self.day_of, self.ready = name, clock, hour, work, day_of, ready
        self.check_every_s, self.retry = check_every_s, retry
        self.log = log or logging.getLogger(f"parking.{name}")
        self.done: date | None = None
        self._next_try: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: datetime) -> date | None:
        """The day to run for now, if any: once the hour has come, not done yet, and not waiting for a retry."""
        here = local(now)
        day = self.day_of(here.date())
        if self.hour < 0 or here.hour < self.hour or self.done == day:
            return None
        if self._next_try is not None and now < self._next_try:
            return None
        return day

    def run_once(self) -> T | None:
        now = self.clock()
        day = self.due(now)
        if day is None or not self.ready():
            return None
        try:
            result = self.work(day)
        except ParkingError as exc:  # a dependency away, a bill not ready: said in one line
            self._next_try = now + self.retry
            self.log.warning("%s of %s failed, trying again at %s: %s", self.name, day, self._next_try, exc.message)
            return None
        except Exception:  # a bug: logged with its traceback; the schedule goes on
            self._next_try = now + self.retry
            self.log.exception("%s of %s failed; trying again at %s", self.name, day, self._next_try)
            return None
        self.done, self._next_try = day, None
        return result

    def start(self) -> DailySchedule[T]:
        if self.hour >= 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"daily-{self.name}", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.check_every_s):
            self.run_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


__all__ = ["DailySchedule", "today", "yesterday"]
