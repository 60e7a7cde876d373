"""Each day, at a set Shanghai hour, fetch yesterday's Alipay bill and reconcile it (bills are T+1).

A day that fails (the bill not ready yet, Alipay away, a bill rejected) is tried again every `retry` until it
passes; running it again is harmless, since a day's cases are kept by key.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from billing.alipay.bill import iter_bill_zip
from billing.alipay.client import AlipayClient, download_bill
from billing.reconciliation import DayReconciliation
from billing.reconciliation_models import ReconciliationDay
from parking_core.audit import Actor
from parking_core.daily import DailySchedule, yesterday
from parking_core.db import UnitOfWork

log = logging.getLogger("parking.reconciliation")


def reconcile_bill_day(uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], client: AlipayClient,
                       day: date, *, actor: Actor | None = None) -> ReconciliationDay:
    """Download the day's bill through the SDK and run the day on it, streamed; nothing is kept of a rejected bill.
    A person's run (`actor`) is audited with it."""
    return DayReconciliation(uow, clock).run_day(day, iter_bill_zip(download_bill(client, bill_date=day)), actor=actor)


class DailyReconciliation(DailySchedule[ReconciliationDay]):
    """Yesterday's bill once a day, at `hour` (Shanghai) or as soon after as it can; nothing while Alipay is not configured."""

    def __init__(self, *, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], client: Callable[[], AlipayClient | None],
                 hour: int, check_every_s: float = 60.0, retry: timedelta = timedelta(minutes=10)) -> None:
        self.uow, self.client = uow, client
        super().__init__(name="reconciliation", clock=clock, hour=hour, work=self._reconcile, day_of=yesterday,
                         ready=lambda: client() is not None, check_every_s=check_every_s, retry=retry, log=log)

    def _reconcile(self, day: date) -> ReconciliationDay:
        record = reconcile_bill_day(self.uow, self.clock, self.client(), day)
        log.info("reconciliation of %s: %s, %d bill lines", day, record.status, record.bill_lines)
        return record


__all__ = ["DailyReconciliation", "reconcile_bill_day"]
