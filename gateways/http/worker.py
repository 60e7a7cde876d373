"""One HTTP worker process among several: the API on more than one core, each worker reading live state
from Redis and ingesting nothing (the ingest runs elsewhere: `parking serve`'s own process, `parking ingest`).

uvicorn imports the factory in every worker it starts:

    uvicorn.run("gateways.http.worker:create_app_from_env", factory=True, workers=4, host=..., port=...)

Settings come from the environment (or `.env`) as for `parking serve`.
"""
from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateways.bootstrap import Platform
from gateways.http.app import create_app
from parking_core.errors import ConfigError
from parking_core.settings import Settings, load_settings

log = logging.getLogger("parking.http")


def create_app_from_env() -> FastAPI:
    """The whole HTTP API over a started platform that reads Redis and the database, with no MQTT ingest,
    no ticker and no payment worker; changes ingested by other processes reach its live stream and signs
    over the broker's retained availability topics. Stopped when uvicorn shuts the worker down."""
    return create_worker_app(load_settings())


def create_worker_app(settings: Settings) -> FastAPI:
    if not settings.redis_url:
        raise ConfigError("HTTP workers share live state with the ingest through Redis: set REDIS_URL",
                          field="REDIS_URL", value="")
    platform = Platform(settings, with_ingest=False)
    try:
        platform.start()
        if platform.mqtt_target is not None:
            platform.follow_availability()
    except BaseException:
        platform.stop()
        raise
    app = create_app(platform)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):  # noqa: ANN202
        async with inner(a) as state:
            yield state
        platform.stop()

    app.router.lifespan_context = lifespan
    gc.freeze()  # start-up objects live for the worker's life: keep full collections from pausing requests
    log.info("HTTP worker ready: %d car parks, live state in Redis", len(platform.directory))
    return app
