"""`parking serve --workers N` and `parking ingest` as a user runs them: real processes on
PostgreSQL, Redis and a Mosquitto with the shipped config. Each worker takes a share of the
shared subscription; a killed worker is seen on /healthz and restarted, and its share of the
messages, held by the broker meanwhile, is applied after all."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, func, select

from parking_core.models import OccupancyEvent
from sensors.broker import free_port
from sensors.mqtt import MqttTarget, connect, make_client
from tests.factories import berth_msg, feature, registry
from tests.sensors.test_mqtt_e2e import wait_for

pytestmark = pytest.mark.timeout(300)  # real processes start here: slower than the suite's 120 s on a busy machine

LOTS = [f"W{i}" for i in range(10)]
BERTHS = [f"b{j}" for j in range(6)]


def parking_cmd() -> list[str]:
    """The installed `parking` command, as the README runs it (the module when not on PATH)."""
    exe = shutil.which("parking")
    return [exe] if exe else [sys.executable, "-m", "gateways.cli.main"]


def prepare(tmp_path, city: dict, *, pg_url, redis_url, redis_prefix, mqtt_url, topic_prefix) -> dict:
    """The environment a deployer sets, with the schema migrated and the city imported by the CLI."""
    env = {**os.environ, "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix,
           "MQTT_URL": mqtt_url, "PARKING_TOPIC_PREFIX": topic_prefix,
           "PARKING_MQTT_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}", "PARKING_DATA_DIR": str(tmp_path / "data")}
    path = tmp_path / "city.geojson"
    path.write_bytes(orjson.dumps(city))
    for args in (["db", "upgrade"], ["lots", "import", str(path)]):
        done = subprocess.run(parking_cmd() + args, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    return env


@pytest.fixture
def servers_env(tmp_path, pg_url, redis_url, redis_prefix, shipped_mosquitto, topic_prefix) -> dict:
    city = registry(*[feature(lot, kind="on_street", total=len(BERTHS), berths=BERTHS, lat=31.30 + i * 0.001) for i, lot in enumerate(LOTS)])
    return prepare(tmp_path, city, pg_url=pg_url, redis_url=redis_url, redis_prefix=redis_prefix, mqtt_url=shipped_mosquitto,
                   topic_prefix=topic_prefix)


class Serve:
    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        self.proc = subprocess.Popen(parking_cmd() + ["serve", "--port", str(self.port), "--dev", *args], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def health(self) -> dict:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def workers(self) -> dict[int, dict]:
        return {w["worker"]: w for w in self.health().get("ingest", {}).get("workers", [])}

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


def publish(env: dict, msgs: list[tuple[str, bytes]]) -> None:
    target = MqttTarget.from_url(env["MQTT_URL"])
    dev = make_client(target, f"dev-{uuid.uuid4().hex[:6]}")
    connect(dev, target)
    dev.loop_start()
    infos = [dev.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(10)
    dev.disconnect()
    dev.loop_stop()


def berth_stream(env: dict, start: int, n: int) -> list[tuple[str, bytes]]:
    base = datetime.now(timezone.utc) - timedelta(minutes=5)
    out = []
    for i in range(start, start + n):
        lot, berth = LOTS[i % len(LOTS)], BERTHS[(i // len(LOTS)) % len(BERTHS)]
        out.append(berth_msg(lot, berth, i % 3 == 0, i, base + timedelta(milliseconds=i), env["PARKING_TOPIC_PREFIX"]))
    return out


def logged(env: dict) -> int:
    engine = create_engine(env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as c:
            return c.scalar(select(func.count()).select_from(OccupancyEvent))
    finally:
        engine.dispose()


def test_serve_with_two_workers_shares_the_load_and_restarts_a_killed_worker(servers_env, tmp_path):
    serve = Serve(servers_env, tmp_path / "serve.log", "--workers", "2")
    try:
        assert wait_for(lambda: {w: s.get("alive") for w, s in serve.workers().items()} == {0: True, 1: True}, timeout=60), \
            (serve.health(), (tmp_path / "serve.log").read_text()[-3000:])
        publish(servers_env, berth_stream(servers_env, 0, 600))
        assert wait_for(lambda: logged(servers_env) == 600, timeout=60)
        assert wait_for(lambda: sum(w.get("received", 0) for w in serve.workers().values()) == 600, timeout=10)
        shares = {w: s["received"] for w, s in serve.workers().items()}
        assert shares[0] > 0 and shares[1] > 0, shares  # both took a share of the shared subscription

        victim = serve.workers()[1]["pid"]
        os.kill(victim, signal.SIGKILL)
        publish(servers_env, berth_stream(servers_env, 600, 400))  # some of it routed to the dead worker's session
        assert wait_for(lambda: serve.workers().get(1, {}).get("restarts", 0) >= 1 and serve.workers()[1].get("alive"), timeout=20), serve.health()
        restarted = serve.workers()[1]
        assert restarted["pid"] != victim and restarted["last_exit_code"] == -signal.SIGKILL
        assert wait_for(lambda: logged(servers_env) == 1000, timeout=60), logged(servers_env)  # nothing lost
        assert wait_for(lambda: serve.health().get("status") == "ok", timeout=15), serve.health()
    finally:
        code = serve.stop()
    assert code == 0


def test_a_stalled_worker_is_reported_by_healthz_with_its_lag(servers_env, tmp_path):
    """A worker that stops reporting (hung, or its process gone) makes /healthz say degraded, naming it."""
    serve = Serve(servers_env, tmp_path / "serve.log", "--workers", "2")
    try:
        assert wait_for(lambda: serve.workers().get(1, {}).get("alive") is True, timeout=60), serve.health()
        pid = serve.workers()[1]["pid"]
        os.kill(pid, signal.SIGSTOP)  # hung: alive as a process, silent as a worker
        try:
            assert wait_for(lambda: serve.health().get("status") == "degraded", timeout=20), serve.health()
            body = serve.health()
            assert any(p.startswith("ingest worker 1 is not alive (last report") for p in body["problems"]), body
        finally:
            os.kill(pid, signal.SIGCONT)
        assert wait_for(lambda: serve.health().get("status") == "ok", timeout=20), serve.health()
    finally:
        serve.stop()


def test_parking_ingest_runs_as_its_own_worker(servers_env, tmp_path):
    """`parking ingest --worker-id 1` starts, connects and applies what it receives."""
    log = (tmp_path / "ingest.log").open("wb")
    proc = subprocess.Popen(parking_cmd() + ["ingest", "--worker-id", "1"], env=servers_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: b"ingest worker 1 running" in (tmp_path / "ingest.log").read_bytes(), timeout=60)
        time.sleep(0.5)  # its subscription is made right after connecting
        publish(servers_env, berth_stream(servers_env, 0, 50))
        assert wait_for(lambda: logged(servers_env) == 50, timeout=60), (tmp_path / "ingest.log").read_text()[-3000:]
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        log.close()
    assert code == 0
