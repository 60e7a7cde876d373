"""The month's world: the platform as tests build it (tests/billing_flow), on a clock the bench moves, with the
local Alipay (its clock the platform's) delivering notifications to the platform's own HTTP server.

PostgreSQL and Redis when DATABASE_URL / REDIS_URL are given (a fresh database on that server, dropped
afterwards; a key prefix of the run's own, deleted afterwards), SQLite and in-process state otherwise."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alipay_standin import LocalAlipay, NotifyPolicy, start_local_alipay
from bench.month.broker import Broker, dynsec_mosquitto
from parking_core.clock import local
from tests.billing_flow.conftest import OPERATOR_KEY, Env, Served
from tests.factories import FrozenClock

QUIET = NotifyPolicy(time_scale=2e-6)  # Alipay's 25 h retry schedule in a fraction of a second
CITY_KEY = OPERATOR_KEY  # tests/billing_flow's drivers have their licences approved with the city's key


@dataclass(frozen=True)
class Backend:
    database_url: str
    redis_url: str | None
    redis_prefix: str

    @property
    def name(self) -> str:
        db = "PostgreSQL" if self.database_url.startswith("postgres") else "SQLite"
        return f"{db} + {'Redis' if self.redis_url else 'in-process live state'}"


@contextmanager
def backend(tmp: Path) -> Iterator[Backend]:
    """PostgreSQL + Redis when DATABASE_URL / REDIS_URL say so, the embedded defaults otherwise."""
    given = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL") or None
    prefix = f"bench-month:{uuid.uuid4().hex[:8]}:"
    try:
        if given.startswith(("postgres://", "postgresql")):
            with _fresh_postgres(given) as url:
                yield Backend(url, redis_url, prefix)
        else:
            yield Backend(f"sqlite:///{tmp / 'month.db'}", redis_url, prefix)
    finally:
        if redis_url:
            import redis

            r = redis.Redis.from_url(redis_url)
            keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                r.delete(*keys)
            r.close()


@contextmanager
def _fresh_postgres(given: str) -> Iterator[str]:
    """A database of the run's own on DATABASE_URL's server (the month's lots and orders never mix with others')."""
    from sqlalchemy import text

    from parking_core.db import make_engine

    name = f"bench_month_{uuid.uuid4().hex[:10]}"
    admin = make_engine(given).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class World:
    env: Env  # tests/billing_flow's driver helpers (sign in, bind and prove a plate, sign an agreement, run the worker)
    clock: FrozenClock
    backend: Backend
    broker: Broker | None = None  # --broker dynsec: the private Mosquitto the platform ingests from

    @property
    def platform(self):
        return self.env.platform

    @property
    def api(self):
        return self.env.api

    @property
    def gw(self) -> LocalAlipay:
        return self.env.gw

    def at(self, when: datetime) -> None:
        """Move the platform's (and so Alipay's) clock; never backwards."""
        if when < self.clock.now:
            raise ValueError(f"the clock may not go back from {self.clock.now} to {when}")
        self.clock.now = when


@contextmanager
def world(start: datetime, *, operator_keys: dict[str, str], due_days: int, broker: str = "none") -> Iterator[World]:
    """A started platform on `backend()`, serving its app on a localhost port, with the local Alipay; with
    `broker="dynsec"` also a private Mosquitto with dynamic security that the platform's MQTT ingest reads."""
    from fastapi.testclient import TestClient

    from billing.agreements import Agreements
    from billing.alipay.client import build_client
    from billing.service import BillingSettings
    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from gateways.schema import upgrade
    from parking_core.notify import RecordingNotifier, RecordingSender
    from parking_core.settings import load_settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-month-"))
    keys = ",".join(f"{name}:{key}" for name, key in {"city": CITY_KEY, **operator_keys}.items())
    saved = {k: os.environ.get(k) for k in ("PARKING_OPERATOR_KEYS", "PARKING_DATA_DIR", "PARKING_RECONCILE_HOUR",
                                             "PARKING_MQTT_ADMIN_USER", "PARKING_MQTT_ADMIN_PASSWORD")}
    os.environ.update({"PARKING_OPERATOR_KEYS": keys, "PARKING_DATA_DIR": str(tmp / "data"), "PARKING_RECONCILE_HOUR": "-1"})
    clock = FrozenClock(start)
    gw = start_local_alipay(notify_policy=QUIET)  # bills are T+1, as Alipay's
    gw.gateway.ledger.clock = lambda: local(clock()).replace(microsecond=0)  # Alipay's day is the platform's
    served = Served()
    try:
        with backend(tmp) as b, ExitStack() as stack:
            mqtt = stack.enter_context(dynsec_mosquitto("parking/v1")) if broker == "dynsec" else None
            if mqtt is not None:  # the platform issues device users as the broker's admin (docs/DEVICES.md)
                os.environ.update({"PARKING_MQTT_ADMIN_USER": "admin", "PARKING_MQTT_ADMIN_PASSWORD": mqtt.admin_password})
            client = build_client(gw.client_settings(notify_url=f"{served.url}/v1/payments/alipay/notify"))
            sender, notices, published = RecordingSender(), RecordingNotifier(), []
            settings = load_settings(DATABASE_URL=b.database_url, REDIS_URL=b.redis_url, PARKING_REDIS_PREFIX=b.redis_prefix,
                                     PARKING_DATA_DIR=str(tmp / "data"), MQTT_URL=mqtt.platform_url if mqtt else None,
                                     PARKING_MQTT_CLIENT_ID=f"bench-month-{uuid.uuid4().hex[:6]}")
            platform = Platform(settings, clock=clock, with_ingest=mqtt is not None, alipay=client, code_sender=sender,
                                notifier=notices, publish_sink=lambda t, p, r: published.append((t, p, r)),
                                billing_settings=BillingSettings(poll_s=0.2, query_after_s=60, due_days=due_days))
            upgrade(platform.engine)
            platform.start()
            platform.billing.worker.stop()  # the bench runs the payment worker's rounds itself, as tests/billing_flow does
            try:
                app = create_app(platform)
                served.start(app)
                env = Env(platform, platform.billing, gw, TestClient(app), notices, sender, platform.accounts, served, published,
                          Agreements(uow=platform.uow, clock=platform.clock, alipay=client))
                yield World(env, clock, b, mqtt)
            finally:
                served.stop()
                platform.stop()
    finally:
        served.stop()
        gw.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
