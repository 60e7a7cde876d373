"""Publish-to-visible latency: how long after a berth changes does GET /v1/lots/{id} show it, under load.

A whole platform runs in this process (Platform with MQTT ingest, and the HTTP app served
by uvicorn on a thread) against a private Mosquitto and a SQLite file. The simulator, in a
process of its own, loads it with the city's traffic at --rate messages/s; every --interval-ms a probe
flips one berth of a lot of its own (not in the simulated city) and polls the API until
that lot's `free` shows the flip. Run from the repository root:

    python -m bench.bench_freshness [--rate 5000] [--duration 20] [--redis]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson

from bench.common import REDIS_URL, REPO, console, database, percentile, prepare_database, private_mosquitto, table, wait_until
from parking_core.registry import parse_registry
from sensors.broker import free_port
from sensors.mqtt import MqttTarget, connect, make_client
from sensors.topics import Topics

PROBE_LOT = "PROBE-1"
PROBE_BERTHS = ["P1", "P2", "P3", "P4"]


def probe_feature() -> dict:
    return {
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [120.5853, 31.2990]},
        "properties": {"id": PROBE_LOT, "name": "freshness probe", "kind": "on_street", "operator": "op-01",
                       "district": "gusu", "total": len(PROBE_BERTHS), "berths": PROBE_BERTHS},
    }


class Probe:
    """Flips berth P1 of the probe lot and times how long the API takes to show it."""

    def __init__(self, target: MqttTarget, prefix: str, api: str) -> None:
        self.topics, self.api = Topics(prefix), api
        me = MqttTarget(target.host, target.port, username="probe")
        self.client = make_client(me, "bench-probe")
        ok = threading.Event()
        self.client.on_connect = lambda *a: ok.set()
        self.client.loop_start()
        connect(self.client, me)
        if not ok.wait(10):
            raise SystemExit("probe could not connect")
        self.http = httpx.Client(base_url=api, timeout=10)
        self.seq = int(time.time())
        self.latencies_ms: list[float] = []
        self.poll_ms: list[float] = []
        self.timeouts = 0
        self.sent = 0
        self.errors: dict[int, int] = {}
        self.last_error = ""

    def _send(self, berth: str, occupied: bool) -> float:
        self.seq += 1
        self.sent += 1
        payload = orjson.dumps({"occupied": occupied, "seq": self.seq, "ts": datetime.now(timezone.utc).astimezone().isoformat()})
        t = time.perf_counter()
        self.client.publish(self.topics.berth_state(PROBE_LOT, berth), payload, qos=1)
        return t

    def free(self) -> int:
        t = time.perf_counter()
        r = self.http.get(f"/v1/lots/{PROBE_LOT}")
        self.poll_ms.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            self.errors[r.status_code] = self.errors.get(r.status_code, 0) + 1
            self.last_error = r.text[:300]
            return -1
        return r.json()["free"]

    def prime(self) -> None:
        """Every probe berth free, so the lot reads 4 before the first measurement."""
        for b in PROBE_BERTHS:
            self._send(b, False)
        if not wait_until(lambda: self.free() == len(PROBE_BERTHS), 60, 0.05):
            raise SystemExit("the probe lot never showed its berths free")

    def measure(self, duration_s: float, interval_s: float, poll_s: float, max_wait_s: float = 30.0) -> None:
        occupied = False
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            occupied = not occupied
            want = len(PROBE_BERTHS) - (1 if occupied else 0)
            t0 = self._send("P1", occupied)
            deadline = t0 + max_wait_s
            while True:
                if self.free() == want:
                    self.latencies_ms.append((time.perf_counter() - t0) * 1000)
                    break
                if time.perf_counter() > deadline:
                    self.timeouts += 1
                    break
                time.sleep(poll_s)
            left = interval_s - (time.perf_counter() - t0)
            if left > 0:
                time.sleep(left)

    def close(self) -> None:
        self.http.close()
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Publish-to-visible latency of the citizen API under load.")
    ap.add_argument("--rate", type=float, default=5_000, help="background messages/s from the simulator")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--interval-ms", type=float, default=200.0, help="time between probe flips")
    ap.add_argument("--poll-ms", type=float, default=10.0, help="pause between API polls while waiting")
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis", action="store_true", help="live state in Redis instead of in-process")
    args = ap.parse_args(argv)

    import uvicorn

    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from parking_core.settings import load_settings
    from sensors.simulator import generate_city

    os.environ["PARKING_RATE_LIMIT_PER_MIN"] = "0"  # the probe polls far more often than a citizen may
    city = generate_city(args.lots, seed=args.seed)
    registry = {"type": "FeatureCollection", "features": city["features"] + [probe_feature()]}
    lots = parse_registry(registry)
    prefix = "parking/v1"
    with private_mosquitto() as target, tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp, database("sqlite", Path(tmp)) as url:
        prepare_database(url, lots)
        redis_prefix = f"bench:fresh:{int(time.time())}:"
        os.environ["PARKING_DATA_DIR"] = tmp  # keys and files the app makes stay in the temp dir
        settings = load_settings(
            PARKING_DATA_DIR=tmp, DATABASE_URL=url, REDIS_URL=REDIS_URL if args.redis else "", MQTT_URL=f"mqtt://platform@{target.host}:{target.port}",
            PARKING_TOPIC_PREFIX=prefix, PARKING_REDIS_PREFIX=redis_prefix, PARKING_MQTT_CLIENT_ID="bench-fresh-ingest",
        )
        platform = Platform(settings).start()
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", access_log=False))
        web = threading.Thread(target=server.run, name="http", daemon=True)
        web.start()
        sim_result: dict = {}
        load = probe = None
        try:
            if not wait_until(lambda: server.started, 30, 0.05):
                raise SystemExit("uvicorn did not start")
            probe = Probe(target, prefix, f"http://127.0.0.1:{port}")
            probe.prime()
            # the load comes from another process, as devices would: it must not share this one's GIL
            load = subprocess.Popen(
                [sys.executable, "-m", "sensors.simulator.run", "--url", f"mqtt://simulator@{target.host}:{target.port}",
                 "--rate", str(args.rate), "--lots", str(args.lots), "--seed", str(args.seed), "--prefix", prefix, "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(REPO),
            )
            time.sleep(3.0)  # city generation and connection, then let the load settle in
            processed0, t0 = platform.ingest.processed, time.monotonic()
            probe.measure(args.duration, args.interval_ms / 1000, args.poll_ms / 1000)
            ingest_rate = (platform.ingest.processed - processed0) / (time.monotonic() - t0)
            load.send_signal(signal.SIGINT)
            out, _ = load.communicate(timeout=60)
            sim_result = json.loads(out.decode().strip().splitlines()[-1])
            behind = sim_result.get("published", 0) - (platform.ingest.processed - probe.sent)
        finally:
            if load and load.poll() is None:
                load.kill()
            if probe:
                probe.close()
            server.should_exit = True
            web.join(10)
            if args.redis:
                platform.live.clear()
            platform.stop()
    lat = probe.latencies_ms
    sim_rate = sim_result.get("published", 0) / max(sim_result.get("seconds", 1), 1e-9)
    console.print(
        f"[bold]bench_freshness[/]: background {sim_rate:,.0f} msg/s offered ({sim_result.get('published', 0):,} published), "
        f"ingest handled {ingest_rate:,.0f} msg/s during the probe, {behind:,} still queued when the load stopped; "
        f"live state {'Redis' if args.redis else 'in-process'}, event log SQLite"
    )
    if probe.last_error:
        console.print(f"last API error: {probe.last_error}")
    table(
        "publish -> visible in GET /v1/lots/{id}, ms",
        ["", "probes", "p50", "p90", "p99", "max", "timeouts", "API poll p50", "API errors"],
        [("latency", len(lat), percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), max(lat) if lat else float("nan"),
          probe.timeouts, percentile(probe.poll_ms, 50), ", ".join(f"{k}: {v}" for k, v in probe.errors.items()) or "0")],
    )


if __name__ == "__main__":
    main()
