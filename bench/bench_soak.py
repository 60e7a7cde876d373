"""Soak: the simulated city through `parking serve --workers N` on the production configuration
(PostgreSQL, Redis, a private Mosquitto with the shipped config) for a long run at a multiple
of the city's natural peak rate. Reports, for the first and the last minute: memory of every
platform process, nearby-query latency, ingest lag; and at the end that every published
message was received once (published = accepted + rejected) with no internal error.

    python -m bench.bench_soak --minutes 30 --times-peak 5        # the issue's soak
    python -m bench.bench_soak --minutes 30 --rate 200 --workers 1  # `parking serve` + `parking simulate --rate 200`
    python -m bench.bench_soak --minutes 3 --times-peak 1          # a quick look

The city's natural peak is the simulator's own rate for the city (berth turnover, heartbeats,
gate passages and counts of 3,300 car parks), printed at the start.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench.common import REDIS_URL, console, database, median, percentile, prepare_serve, private_mosquitto, table
from sensors.broker import free_port
from sensors.simulator import generate_city
from sensors.simulator.traffic import Simulator

SAMPLE_S = 60.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def sample(port: int, seconds: float) -> dict:
    """Nearby queries at a modest pace for `seconds`; memory and lag as /healthz reports them."""
    lat = []
    points = [(31.2990 + 0.01 * (i % 7 - 3), 120.5853 + 0.01 * (i % 5 - 2)) for i in range(35)]
    end = time.monotonic() + seconds
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        i = 0
        while time.monotonic() < end:
            la, lo = points[i % len(points)]
            t0 = time.perf_counter()
            http.get("/v1/lots/nearby", params={"lat": la, "lon": lo, "radius_m": 1000, "limit": 20}).raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000)
            i += 1
            time.sleep(0.05)
        health = http.get("/healthz").json()
    workers = health.get("ingest", {}).get("workers", [])
    pids = [w["pid"] for w in workers if w.get("pid")]
    return {"p50_ms": median(lat), "p99_ms": percentile(lat, 99), "requests": len(lat),
            "rss_mb": sum(rss_mb(p) for p in pids), "lag_s": health.get("ingest", {}).get("lag_s", float("nan")),
            "status": health.get("status"), "workers": workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--times-peak", type=float, default=5.0, help="multiple of the city's natural message rate")
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=None, help="messages per second, instead of --times-peak")
    ap.add_argument("--warmup", type=float, default=180.0, help="seconds before the first sample (start-up, forecasts learning)")
    a = ap.parse_args()

    city = generate_city(a.lots, seed=1)
    peak = Simulator(city, lambda t, p: None, seed=1).natural_rate
    rate = a.rate if a.rate else peak * a.times_peak
    a.times_peak = rate / peak
    console.print(f"city of {a.lots} car parks: natural rate {peak:,.0f} msg/s; soak at {a.times_peak:g}x = {rate:,.0f} msg/s for {a.minutes:g} min")
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    with private_mosquitto() as broker, database("postgres", tmp) as db_url:
        mqtt_url = f"mqtt://{broker.username}@{broker.host}:{broker.port}"
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "PARKING_REDIS_PREFIX": prefix, "MQTT_URL": mqtt_url,
               "PARKING_DATA_DIR": str(tmp / "data"), "PARKING_MQTT_CLIENT_ID": f"soak-{uuid.uuid4().hex[:6]}"}
        cli = prepare_serve(city, env, tmp)
        port = free_port()
        serve = subprocess.Popen(cli + ["serve", "--port", str(port), "--dev", "--workers", str(a.workers)], env=env,
                                 stdout=(tmp / "serve.log").open("wb"), stderr=subprocess.STDOUT)
        sim = None
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    h = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                    if len(h.get("ingest", {}).get("workers", [])) == a.workers and all(w.get("alive") for w in h["ingest"]["workers"]):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.5)
            else:
                raise SystemExit(f"platform did not come up; see {tmp / 'serve.log'}")
            duration = a.minutes * 60
            sim = subprocess.Popen([sys.executable, "-m", "sensors.simulator.run", "--url", mqtt_url, "--lots", str(a.lots), "--rate", str(rate),
                                    "--duration", str(duration), "--seed", "1", "--bad-fraction", "0.005", "--quiet"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(min(a.warmup, duration / 4))  # warm-up: start-up and the forecasts' first learning are not growth
            first = sample(port, SAMPLE_S)
            console.print(f"first minute: {first['p50_ms']:.1f} / {first['p99_ms']:.1f} ms, {first['rss_mb']:.0f} MB, lag {first['lag_s']} s")
            rest = duration - (time.monotonic() - (deadline - 120)) - SAMPLE_S
            time.sleep(max(0.0, rest))
            last = sample(port, SAMPLE_S)
            sent = json.loads(sim.communicate(timeout=duration + 300)[0].strip().splitlines()[-1])
            received, moved_at, seen = 0, time.monotonic(), -1
            while time.monotonic() - moved_at < 60:  # drain: until all is in, or nothing moved for a minute
                ws = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["ingest"]["workers"]
                received = sum(w.get("received", 0) for w in ws)
                if received >= sent["acked"]:
                    break
                if received != seen:
                    seen, moved_at = received, time.monotonic()
                time.sleep(1.0)
            accepted = sum(w.get("accepted", 0) for w in ws)
            rejected = sum(w.get("rejected", 0) for w in ws)
            internal = sum(w.get("internal_errors", 0) for w in ws)
        finally:
            if sim is not None and sim.poll() is None:
                sim.kill()
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
            redis.Redis.from_url(REDIS_URL).delete(*(redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*") or [b"-"]))
    table(f"soak: {a.lots} car parks, {rate:,.0f} msg/s ({a.times_peak:g}x natural), {a.workers} ingest workers, {a.minutes:g} min",
          ["window", "nearby p50 ms", "nearby p99 ms", "requests", "RSS MB (all workers)", "ingest lag s", "healthz"],
          [["first minute", first["p50_ms"], first["p99_ms"], first["requests"], first["rss_mb"], first["lag_s"], first["status"]],
           ["last minute", last["p50_ms"], last["p99_ms"], last["requests"], last["rss_mb"], last["lag_s"], last["status"]],
           ["end / start", last["p50_ms"] / first["p50_ms"], last["p99_ms"] / first["p99_ms"], "", last["rss_mb"] / first["rss_mb"], "", ""]])
    table("accounting (acked: what the broker accepted from the simulator)",
          ["offered msg/s", "published", "acked", "received", "accepted", "rejected (bad sent)", "internal errors", "acked, not received"],
          [[sent["published"] / max(1.0, sent.get("seconds", 1.0)), sent["published"], sent["acked"], received, accepted,
            f"{rejected:,} ({sent.get('bad', 0):,})", internal, sent["acked"] - received]])


if __name__ == "__main__":
    main()
