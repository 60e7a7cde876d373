"""A minute of a simulated city through `parking serve --workers 2` on the real servers,
with the simulator's whole message mix: berths with and without plates, gates, counts,
heartbeats, misread exits, duplicates, late (out-of-order) delivery and malformed messages.
At the end the ingest is alive, every message is accounted for exactly once
(published = accepted + rejected), only the malformed ones were rejected, and no message
hit an internal error. The 30-minute soak at 5x the city's peak is bench/bench_soak.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sensors.simulator import generate_city
from tests.sensors.test_mqtt_e2e import wait_for
from tests.sensors.test_workers import Serve, prepare

SOAK_S = float(os.environ.get("PARKING_TEST_SOAK_S", "60"))  # longer: PARKING_TEST_SOAK_S, or bench/bench_soak.py
LOTS, SEED, RATE = 120, 7, 300


@pytest.mark.timeout(int(SOAK_S) + 300)
def test_two_workers_take_the_full_message_mix_for_minutes(tmp_path, pg_url, redis_url, redis_prefix, shipped_mosquitto, topic_prefix):
    env = prepare(tmp_path, generate_city(LOTS, seed=SEED), pg_url=pg_url, redis_url=redis_url, redis_prefix=redis_prefix,
                  mqtt_url=shipped_mosquitto, topic_prefix=topic_prefix)
    serve = Serve(env, tmp_path / "serve.log", "--workers", "2")
    try:
        assert wait_for(lambda: {w: s.get("alive") for w, s in serve.workers().items()} == {0: True, 1: True}, timeout=60), serve.health()
        sim = subprocess.run([sys.executable, "-m", "sensors.simulator.run", "--url", shipped_mosquitto, "--lots", str(LOTS),
                              "--rate", str(RATE), "--duration", str(SOAK_S), "--prefix", topic_prefix, "--seed", str(SEED),
                              "--bad-fraction", "0.01", "--misread-rate", "0.15", "--unread-plate-rate", "0.3",
                              "--flap-rate", "0.1", "--prefill", "--quiet"], env=env, capture_output=True, text=True, timeout=SOAK_S + 120)
        assert sim.returncode == 0, sim.stderr[-2000:]
        sent = json.loads(sim.stdout.strip().splitlines()[-1])
        assert sent["acked"] == sent["published"]
        for kind in ("state", "heartbeat", "passage", "counts", "bad", "duplicate", "late", "flaps", "misreads", "unread_plates"):
            assert sent.get(kind, 0) > 0, f"the mix lacks {kind}: {sent}"

        def received() -> int:
            return sum(w.get("received", 0) for w in serve.workers().values())

        assert wait_for(lambda: received() == sent["published"], timeout=90), (received(), sent)
        workers = serve.workers()
        assert all(w["alive"] for w in workers.values()), workers
        assert all(w["received"] > 0 for w in workers.values()), workers  # both took their share
        accepted = sum(w["accepted"] for w in workers.values())
        rejected = sum(w["rejected"] for w in workers.values())
        assert accepted + rejected == sent["published"]
        assert rejected == sent["bad"]  # the malformed ones, and nothing valid
        assert sum(w["internal_errors"] for w in workers.values()) == 0
        assert sum(w["duplicates"] for w in workers.values()) > 0  # re-sent berth reports and passages recognised
        assert serve.health()["status"] == "ok", serve.health()
    finally:
        code = serve.stop()
    assert code == 0
