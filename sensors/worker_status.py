"""Ingest workers in several processes report their counters to one Redis hash, so the
HTTP process's /healthz can speak for every worker: alive, how far behind, what it did."""
from __future__ import annotations

import time

import orjson
import redis

STALE_AFTER_S = 5.0  # a worker that has not reported for this long (at least) is taken for dead


class WorkerBoard:
    """One hash `{prefix}ingest:workers`, a field per worker id, each a JSON status with its time."""

    def __init__(self, url: str, prefix: str, *, report_s: float = 1.0) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.key = f"{prefix}ingest:workers"
        self.stale_after_s = max(STALE_AFTER_S, 5 * report_s)

    def report(self, worker_id: int, status: dict) -> None:
        self.client.hset(self.key, str(worker_id), orjson.dumps({**status, "reported_at": time.time()}))

    def read(self) -> dict[int, dict]:
        """Every worker's last report, with `alive` false when it is older than the stale limit."""
        now = time.time()
        out = {}
        for field, raw in self.client.hgetall(self.key).items():
            status = orjson.loads(raw)
            age = now - float(status.get("reported_at", 0))
            status["report_age_s"] = round(age, 1)
            status["alive"] = age <= self.stale_after_s and bool(status.get("running", True))
            out[int(field)] = status
        return out

    def forget(self) -> None:
        """Start clean: reports from an earlier run must not pass for live workers."""
        self.client.delete(self.key)

    def close(self) -> None:
        self.client.close()
