"""A one-node Redis Cluster of the tests' own (all 16,384 slots on one server), so the live state's
scripts run where a key outside the declared slot is refused."""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time

import pytest


def _free_port() -> int:
    """A free port whose cluster bus port (10,000 above) is free too."""
    for port in random.sample(range(20000, 30000), 200):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


@pytest.fixture(scope="session")
def redis_cluster_port(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        msg = "redis-server not installed: the Redis Cluster tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: a missing server fails the run)")
        pytest.skip(msg)
    import redis

    port, data = _free_port(), tmp_path_factory.mktemp("redis-cluster")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file",
         str(data / "nodes.conf"), "--dir", str(data), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        r = redis.Redis(port=port, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        while "cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError("the one-node cluster did not come up")
            time.sleep(0.05)
        r.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
