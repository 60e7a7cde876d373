"""Shared fixtures: real PostgreSQL, Redis and Mosquitto, each test isolated by its own
database, key prefix or topic prefix. A server that cannot be reached skips the test,
except under CI=true, where it fails it."""
from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timezone

import pytest

from parking_core.lots import LotInfo

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = os.environ.get("TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


def need(service: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a server is not listening."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        msg = f"{service} at {host}:{port} unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: a missing server fails the run)")
        pytest.skip(msg)


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path, monkeypatch):
    """Files a platform makes in its data dir (jwt_secret, operator_keys) go to the test's own directory."""
    monkeypatch.setenv("PARKING_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def redis_url() -> str:
    need("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix of the test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database of the test's own, dropped afterwards."""
    need("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    name = f"parking_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def mqtt_url() -> str:
    need("Mosquitto", "127.0.0.1", 1883)
    return MQTT_URL


@pytest.fixture
def topic_prefix() -> str:
    return f"test/{uuid.uuid4().hex[:10]}/parking/v1"


def at(hhmm: str, day: str = "2026-11-23") -> datetime:
    """A Shanghai wall-clock instant, for readable tests."""
    from parking_core.clock import SHANGHAI

    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI)


def small_city() -> list[LotInfo]:
    """Three lots: a sensor street, a gated car park, and a counting car park shared at night."""
    from parking_core.lots import SharedHours

    return [
        LotInfo(id="S1", name="Renmin Rd", kind="on_street", operator="op1", district="gusu", lat=31.300, lon=120.600, total=4, berths=("b1", "b2", "b3", "b4")),
        LotInfo(id="G1", name="Mall car park", kind="off_street", operator="op2", district="gusu", lat=31.305, lon=120.605, total=3),
        LotInfo(id="C1", name="Gov centre", kind="off_street", operator="op2", district="sip", lat=31.320, lon=120.700, total=110, shared_hours=SharedHours.parse("18:00-08:00")),
    ]


UTC = timezone.utc


@pytest.fixture(params=["embedded", "servers"])
def backend_env(request, tmp_path):
    """Settings for both ways the platform runs: SQLite + in-process, or PostgreSQL + Redis."""
    if request.param == "embedded":
        return {"DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}"}
    return {
        "DATABASE_URL": request.getfixturevalue("pg_url"),
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "PARKING_REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
    }


@pytest.fixture
def make_platform(backend_env):
    """Build a started platform (no MQTT) over the test's backend, with the small city."""
    from gateways.bootstrap import Platform
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings
    from tests.factories import FrozenClock, city_registry

    made = []

    def build(now=None, registry=None, with_ingest=False, **env):
        settings = load_settings(**{**backend_env, **env})
        published: list[tuple[str, bytes, bool]] = []
        clock = FrozenClock(now or datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
        platform = Platform(settings, clock=clock, with_ingest=with_ingest, publish_sink=lambda t, p, r: published.append((t, p, r)))
        upgrade(platform.engine)
        import_registry(platform, registry or city_registry())
        platform.start()
        platform.published = published
        made.append(platform)
        return platform

    yield build
    for p in made:
        p.stop()


@pytest.fixture
def api(make_platform):
    """(platform, TestClient) over the small city; the platform's clock is frozen."""
    from fastapi.testclient import TestClient

    from gateways.http.app import create_app

    def build(**kw):
        platform = make_platform(**kw)
        return platform, TestClient(create_app(platform))

    return build


SHIPPED_MOSQUITTO_CONF = __import__("pathlib").Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"
_TEST_OVERRIDES = ("listener", "port", "persistence_location", "password_file", "acl_file", "allow_anonymous", "log_dest", "pid_file", "log_type")


@pytest.fixture
def shipped_mosquitto(tmp_path):
    """A real Mosquitto running the project's shipped config (queue limits and persistence as
    shipped; listener, auth and paths made local to the test). Yields its mqtt:// URL."""
    import shutil
    import subprocess
    import time

    from sensors.broker import free_port

    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if binary is None:
        msg = "the mosquitto binary is not installed (Debian package mosquitto)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    port = free_port()
    kept = [ln for ln in SHIPPED_MOSQUITTO_CONF.read_text().splitlines() if ln.split(" ", 1)[0] not in _TEST_OVERRIDES]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(kept + [
        f"listener {port} 127.0.0.1", "allow_anonymous true", f"persistence_location {tmp_path}/",
        f"log_dest file {tmp_path}/mosquitto.log",
    ]) + "\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"mosquitto with the shipped config did not start: {proc.stderr.read().decode()}")
    yield f"mqtt://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of the test's own on a free port, so the test may restart it. Yields a
    controller with .url, .stop() and .start()."""
    import shutil
    import subprocess
    import time

    from sensors.broker import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        msg = "redis-server is not installed (Debian package redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    port = free_port()

    class Ctl:
        url = f"redis://127.0.0.1:{port}/0"
        proc = None

        def start(self):
            self.proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
            pytest.fail("own redis-server did not start")

        def stop(self):
            self.proc.kill()
            self.proc.wait(5)

    ctl = Ctl()
    ctl.start()
    yield ctl
    ctl.stop()
