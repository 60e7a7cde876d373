"""`parking serve --http-workers 2`: the API in two processes of its own on one port and the
ingest in a process of its own, as one command. Both HTTP processes answer; a sensor message
ingested elsewhere reaches the API; an HTTP worker SIGKILLed is replaced while the other keeps
answering; the ingest worker SIGKILLed is restarted and what was published meanwhile is applied."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.sensors.test_mqtt_e2e import wait_for
from tests.sensors.test_workers import LOTS, Serve, berth_stream, logged, publish, servers_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(600)


def children(pid: int) -> list[int]:
    """Direct child processes of pid (Linux /proc)."""
    out: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.exists():
        return out
    for task in tasks.iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def http_workers(serve: Serve) -> list[int]:
    """uvicorn's worker processes (multiprocessing spawns them; its resource tracker is a child too, not a worker)."""
    return [c for c in children(serve.proc.pid) if "spawn_main" in cmdline(c)]


def ingest_workers(serve: Serve) -> list[int]:
    return [c for c in children(serve.proc.pid) if " ingest " in cmdline(c) + " "]


def test_api_and_ingest_in_processes_of_their_own_survive_a_killed_worker_of_each(servers_env, tmp_path):
    serve = Serve(servers_env, tmp_path / "serve.log", "--http-workers", "2", "--workers", "1")
    base = f"http://127.0.0.1:{serve.port}"
    try:
        def subscribed() -> bool:  # the API processes' /healthz speaks for the ingest process: subscribed, so nothing sent is lost
            return [(w["worker"], w["alive"], w.get("subscribed")) for w in serve.health().get("ingest", {}).get("workers", [])] == [(0, True, True)]

        assert wait_for(lambda: serve.health().get("status") == "ok" and len(http_workers(serve)) == 2
                        and len(ingest_workers(serve)) == 1 and subscribed(), 240, 0.5), (
            serve.health(), http_workers(serve), ingest_workers(serve), (tmp_path / "serve.log").read_text()[-1500:])
        first = berth_stream(servers_env, 0, 60)
        publish(servers_env, first)
        assert wait_for(lambda: logged(servers_env) == 60, 60, 0.3)
        free = {lot: httpx.get(f"{base}/v1/lots/{lot}", timeout=5).json()["free"] for lot in LOTS}
        assert sum(free.values()) < 6 * len(LOTS)  # occupied berths reached the API processes from the ingest process
        # and its counters, from its reports
        assert wait_for(lambda: [(w["worker"], w.get("received", 0) >= 60)
                                 for w in serve.health().get("ingest", {}).get("workers", [])] == [(0, True)], 30, 0.5), serve.health()

        victim = http_workers(serve)[0]
        os.kill(victim, signal.SIGKILL)
        answers = [httpx.get(f"{base}/v1/lots/{LOTS[0]}", timeout=5).status_code for _ in range(20)]
        assert answers == [200] * 20  # the other HTTP process answers meanwhile
        assert wait_for(lambda: len(http_workers(serve)) == 2 and victim not in http_workers(serve), 180, 0.5)

        ingest = ingest_workers(serve)[0]
        os.kill(ingest, signal.SIGKILL)
        publish(servers_env, berth_stream(servers_env, 60, 60))  # while the ingest is down: held by the broker
        assert wait_for(lambda: ingest_workers(serve) and ingest not in ingest_workers(serve), 60, 0.5)
        assert wait_for(lambda: logged(servers_env) == 120, 90, 0.5), logged(servers_env)
        assert wait_for(lambda: serve.health().get("status") == "ok", 60, 0.5), serve.health()
        kids = http_workers(serve) + ingest_workers(serve)
    finally:
        assert serve.stop() == 0
    assert wait_for(lambda: not any(Path(f"/proc/{k}").exists() for k in kids), 30, 0.5)  # no worker outlives the command


def test_http_workers_need_redis_and_the_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MQTT_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", PARKING_DATA_DIR=str(tmp_path))
    serve = Serve(env, tmp_path / "serve.log", "--http-workers", "2")
    assert serve.proc.wait(60) == 2
    serve.log.close()
    out = (tmp_path / "serve.log").read_text()
    assert "--http-workers" in out and "REDIS_URL" in out
