"""The retention job once a day at PARKING_RETENTION_HOUR (Shanghai), inside `parking serve`; a failed run is tried
again after `retry`, and running it twice changes nothing more (hashed plates are not due again)."""
from __future__ import annotations

import logging
from datetime import timedelta

from parking_core.daily import DailySchedule
from parking_core.retention import RetentionJob, RetentionReport


class DailyRetention(DailySchedule[RetentionReport]):
    """The job once per Shanghai day, from `hour` on; `hour` -1: never."""

    def __init__(self, job: RetentionJob, *, hour: int, check_every_s: float = 60.0,
                 retry: timedelta = timedelta(minutes=30)) -> None:
        self.job = job
        super().__init__(name="retention", clock=job.clock, hour=hour, work=lambda _day: job.run(),
                         check_every_s=check_every_s, retry=retry, log=logging.getLogger("parking.retention"))


__all__ = ["DailyRetention"]
