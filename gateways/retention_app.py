"""The retention job over a platform (every part: parking_core's and billing's), and its daily run while the HTTP app
is up, as `parking serve` and `parking demo` run it (PARKING_RETENTION_HOUR; -1: never)."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from billing.retention import retention_parts
from parking_core.plate_verification_settings import evidence_folder, load_plate_verification_settings
from parking_core.retention import RetentionJob, RetentionSettings, load_retention_settings, plate_hash_key
from parking_core.retention_daily import DailyRetention


def retention_job(platform: Any, settings: RetentionSettings | None = None) -> RetentionJob:
    settings = settings or load_retention_settings()
    folder = evidence_folder(load_plate_verification_settings(), platform.settings.data_dir)
    return RetentionJob(uow=platform.uow, clock=platform.clock, settings=settings, parts=retention_parts(folder),
                        key=lambda: plate_hash_key(settings, platform.settings.data_dir))


def install(app: FastAPI) -> None:
    def start() -> None:
        job = retention_job(app.state.platform)
        app.state.daily_retention = DailyRetention(job, hour=job.settings.hour).start()

    def stop() -> None:
        daily = getattr(app.state, "daily_retention", None)
        if daily is not None:
            daily.stop()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)


__all__ = ["install", "retention_job"]
