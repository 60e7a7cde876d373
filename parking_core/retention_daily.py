"""The retention job once a day at PARKING_RETENTION_HOUR (Shanghai), inside `parking serve`; a failed run is tried
again after `retry`, and running it twice changes nothing more (hashed plates are not due again)."""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta

from parking_core.clock import local
from parking_core.retention import RetentionJob, RetentionReport

log = logging.getLogger("parking.retention")


class DailyRetention:
    """A thread that runs the job once per Shanghai day, from `hour` on; `hour` -1: never."""

    def __init__(self, job: RetentionJob, *, hour: int, check_every_s: float = 60.0,
                 retry: timedelta = timedelta(minutes=30)) -> None:
        self.job, self.hour, self.check_every_s, self.retry = job, hour, check_every_s, retry
        self.done: date | None = None
        self._next_try: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: datetime) -> bool:
        here = local(now)
        if self.hour < 0 or here.hour < self.hour or self.done == here.date():
            return False
        return self._next_try is None or now >= self._next_try

    def run_once(self) -> RetentionReport | None:
        now = self.job.clock()
        if not self.due(now):
            return None
        try:
            report = self.job.run()
        except Exception:  # a dependency away or a bug: logged with its traceback, tried again later
            self._next_try = now + self.retry
            log.exception("retention run failed; trying again at %s", self._next_try)
            return None
        self.done, self._next_try = local(now).date(), None
        return report

    def start(self) -> DailyRetention:
        if self.hour >= 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="daily-retention", daemon=True)
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


__all__ = ["DailyRetention"]
