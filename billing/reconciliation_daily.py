"""Each day, at a set Shanghai hour, fetch yesterday's Alipay bill and reconcile it (bills are T+1).

A day that fails (the bill not ready yet, Alipay away, a bill rejected) is tried again every `retry` until it
passes; running it again is harmless, since a day's cases are kept by key.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from billing.alipay.bill import iter_bill_zip
from billing.alipay.client import AlipayClient, download_bill
from billing.reconciliation import DayReconciliation
from billing.reconciliation_models import ReconciliationDay
from parking_core.clock import local
from parking_core.db import UnitOfWork
from parking_core.errors import ParkingError

log = logging.getLogger("parking.reconciliation")


def reconcile_bill_day(uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], client: AlipayClient,
                       day: date) -> ReconciliationDay:
    """Download the day's bill through the SDK and run the day on it, streamed; nothing is kept of a rejected bill."""
    return DayReconciliation(uow, clock).run_day(day, iter_bill_zip(download_bill(client, bill_date=day)))


class DailyReconciliation:
    """A thread that reconciles yesterday once a day, at `hour` (Shanghai) or as soon after as it can."""

    def __init__(self, *, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], client: Callable[[], AlipayClient | None],
                 hour: int, check_every_s: float = 60.0, retry: timedelta = timedelta(minutes=10)) -> None:
        self.uow, self.clock, self.client, self.hour = uow, clock, client, hour
        self.check_every_s, self.retry = check_every_s, retry
        self.done: date | None = None
        self._next_try: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: datetime) -> date | None:
        """The day to reconcile now, if any: yesterday, once the hour has come and it has not been done."""
        here = local(now)
        yesterday = here.date() - timedelta(days=1)
        if self.hour < 0 or here.hour < self.hour or self.done == yesterday:
            return None
        if self._next_try is not None and now < self._next_try:
            return None
        return yesterday

    def run_once(self) -> ReconciliationDay | None:
        now = self.clock()
        day = self.due(now)
        client = self.client()
        if day is None or client is None:
            return None
        try:
            record = reconcile_bill_day(self.uow, self.clock, client, day)
        except ParkingError as exc:
            self._next_try = now + self.retry
            log.warning("reconciliation of %s failed, trying again at %s: %s", day, self._next_try, exc.message)
            return None
        self.done, self._next_try = day, None
        log.info("reconciliation of %s: %s, %d bill lines", day, record.status, record.bill_lines)
        return record

    def start(self) -> DailyReconciliation:
        if self.hour >= 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="daily-reconciliation", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.check_every_s):
            try:
                self.run_once()
            except Exception:  # a bug must not end the schedule; it is logged with its traceback
                log.exception("daily reconciliation")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


__all__ = ["DailyReconciliation", "reconcile_bill_day"]
