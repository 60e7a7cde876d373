"""Throughput and latency of GET /v1/lots/nearby and GET /v1/guidance for a city of 3,300 car parks, beside
a raw Redis GEOSEARCH loop of the same queries (targets: nearby p99 <= 20 ms at 1,000 req/s, guidance p99 <= 50 ms).

Run from the repository root: python -m bench.bench_nearby_guidance [--redis] [--lots 3300] [--duration 10]
One process serves the platform (SQLite event log with --history-days of availability history, live state
in-process or, with --redis, in Redis; no MQTT) with uvicorn on a free port; the load comes from another
process (httpx clients on threads) so that clients and server do not share a GIL. Each endpoint is measured
closed-loop (--clients concurrent clients, as fast as answers come) and open-loop (requests sent on a fixed
schedule, latency counted from when each was due). The GEOSEARCH loop runs with the same clients and queries
on 127.0.0.1:6379 under a key of its own, deleted afterwards. --profile also times the handlers in-process.
Prints figures, no asserts.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import multiprocessing as mp
import os
import pstats
import random
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from bench.common import REDIS_URL, console, database, percentile, prepare_database, table, wait_until
from parking_core.availability import Availability
from parking_core.eventlog import append_availability
from parking_core.registry import parse_registry
from sensors.broker import free_port
from sensors.simulator import generate_city, target_occupancy


def queries(lots, n: int, seed: int) -> list[tuple[float, float]]:
    """Destinations where drivers go: near a car park (so dense districts get more), up to ~300 m off."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        lot = rnd.choice(lots)
        out.append((round(lot.lat + rnd.uniform(-0.0027, 0.0027), 6), round(lot.lon + rnd.uniform(-0.0032, 0.0032), 6)))
    return out


def seed_history(platform, usage: dict[str, str], days: int, now: datetime) -> int:
    """`days` of availability changes every 30 minutes per lot, following the simulator's day rhythm."""
    rnd = random.Random(5)
    rows, n = [], 0
    for info in platform.directory.lots.values():
        if info.total <= 0:
            continue
        for k in range(days * 48, 0, -1):
            t = now - timedelta(minutes=30 * k)
            occ = min(1.0, max(0.0, target_occupancy(usage.get(info.id, "commercial"), t.timestamp()) + rnd.gauss(0, 0.05)))
            free = info.total - round(info.total * occ)
            rows.append((info.id, t, Availability(free, info.total, "full" if free == 0 else "spacesAvailable", t)))
        if len(rows) >= 50_000:
            n += _write(platform, rows)
            rows = []
    return n + _write(platform, rows)


def _write(platform, rows) -> int:
    with platform.uow() as uow:
        append_availability(uow.session, rows)
        uow.commit()
    return len(rows)


def seed_live(platform, now: datetime, silent_share: float = 0.1) -> None:
    """Nine lots in ten report now (counts, or every berth); the rest stay unknown, so guidance meets stale lots."""
    rnd = random.Random(9)
    prefix, ts = platform.settings.topic_prefix, now.isoformat()
    msgs = []
    for info in platform.directory.lots.values():
        if rnd.random() < silent_share:
            continue
        if info.berths:
            msgs += [(f"{prefix}/lots/{info.id}/berths/{b}/state", orjson.dumps({"occupied": rnd.random() < 0.7, "seq": 1, "ts": ts}))
                     for b in info.berths]
        else:
            msgs.append((f"{prefix}/lots/{info.id}/counts", orjson.dumps({"free": rnd.randint(0, info.total), "total": info.total, "ts": ts})))
    for i in range(0, len(msgs), 2000):
        platform.pipeline.process(msgs[i:i + 2000])


# -- the load, in a process of its own ------------------------------------------------------------------------


def _paths(kind: str, points: list[tuple[float, float]]) -> list[str]:
    if kind == "nearby":
        return [f"/v1/lots/nearby?lat={lat}&lon={lon}&radius_m=1000&limit=20" for lat, lon in points]
    vehicles = ("small", "small", "small", "nev", "large")
    return [f"/v1/guidance?lat={lat}&lon={lon}&arrive_in_min=15&max_walk_m=800&stay_min=120&vehicle={vehicles[i % 5]}"
            for i, (lat, lon) in enumerate(points)]


def load(kind: str, target: str, points: list[tuple[float, float]], clients: int, duration_s: float, rate: float, out) -> None:
    """Run `clients` threads for `duration_s`: closed loop when rate is 0, else `rate` requests/s on a schedule.
    Each thread makes its client and connection with one untimed request before the clock starts."""
    import httpx
    import redis

    lat_ms: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    clock = {}
    if kind == "geosearch":
        r = redis.Redis.from_url(REDIS_URL)
        key = target

        def call(i: int) -> bool:
            lat, lon = points[i % len(points)]
            return r.geosearch(key, longitude=lon, latitude=lat, radius=1000, unit="m", sort="ASC", count=20, withdist=True) is not None
    else:
        paths = _paths(kind, points)
        local = threading.local()

        def call(i: int) -> bool:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=target, timeout=30)
            return client.get(paths[i % len(paths)]).status_code == 200

    def worker(w: int) -> None:
        if kind == "geosearch":
            call(w)
        else:  # connect with a request that costs the server nothing, so "in server" times only measured ones
            local.client = httpx.Client(base_url=target, timeout=30)
            local.client.get("/v1/lots/nearby?lat=0&lon=0&radius_m=0&limit=1")
        ready.wait()
        go.wait()
        start, stop = clock["start"], clock["stop"]
        per = rate / clients
        k = 0
        while True:
            if per:  # open loop, evenly spaced over all threads; a late request counts from when it was due
                due = start + (k * clients + w) / rate
                if due >= stop:
                    return
                if due > time.perf_counter():
                    time.sleep(due - time.perf_counter())
            else:
                due = time.perf_counter()
                if due >= stop:
                    return
            ok = call(w + k * clients)
            lat_ms[w].append((time.perf_counter() - due) * 1000)
            if not ok:
                errors[w] += 1
            k += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    out.put({"ready": True})  # the server may now forget the connecting requests
    clock["start"] = time.perf_counter() + 0.3
    clock["stop"] = clock["start"] + duration_s
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - clock["start"]
    flat = [x for xs in lat_ms for x in xs]
    out.put({"n": len(flat), "elapsed": elapsed, "errors": sum(errors), "lat": flat})


def measure(kind: str, target: str, points, clients: int, duration_s: float, rate: float = 0.0, timed: Timed | None = None) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=load, args=(kind, target, points, clients, duration_s, rate, q))
    p.start()
    q.get(timeout=120)
    if timed is not None:
        timed.take()
    res = q.get(timeout=duration_s * 4 + 120)
    p.join(30)
    lat = res["lat"]
    return {"n": res["n"], "rps": res["n"] / res["elapsed"], "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "max": max(lat) if lat else float("nan"), "errors": res["errors"]}


def row(name: str, mode: str, m: dict, timed: Timed | None = None) -> tuple:
    server, gcs = timed.take() if timed is not None else ([], [])
    inside = f"{percentile(server, 50):.1f} / {percentile(server, 99):.1f}" if server else "-"
    return (name, mode, m["n"], m["rps"], m["p50"], m["p99"], m["max"], inside, f"{max(gcs, default=0):.0f}", m["errors"])


class Timed:
    """Wraps the app to time each request inside the server (ASGI call to last byte), and the GC's pauses."""

    def __init__(self, app) -> None:
        self.app = app
        self.ms: list[float] = []
        self.gc_ms: list[float] = []
        self._gc_start = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_ms.append((time.perf_counter() - self._gc_start) * 1000)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t = time.perf_counter()
        await self.app(scope, receive, send)
        self.ms.append((time.perf_counter() - t) * 1000)

    def take(self) -> tuple[list[float], list[float]]:
        ms, gcs = self.ms, self.gc_ms
        self.ms, self.gc_ms = [], []
        return ms, gcs


class _Request:
    """Just enough of a request for `forecaster_of`: the bench reaches the app's forecaster in-process."""

    def __init__(self, app) -> None:
        self.app = app


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def profile_handlers(app, platform, points, base: str, n: int = 300) -> list[tuple]:
    """Where a request's time goes: the handler called directly, the whole app in-process (ASGI, no socket),
    and one client over HTTP, each one request at a time; then the handler's top functions under cProfile."""
    import asyncio

    import httpx

    from gateways.citizen import nearby
    from gateways.guidance import forecaster_of, guidance

    forecaster = forecaster_of(_Request(app))
    handlers = {
        "nearby": lambda lat, lon: nearby(platform, lat=lat, lon=lon, radius_m=1000, min_free=0, limit=20),
        "guidance": lambda lat, lon: guidance(platform, forecaster, lat=lat, lon=lon, arrive_in_min=15, vehicle="small",
                                              max_walk_m=800, stay_min=120, limit=10),
    }

    async def through_app(paths: list[str]) -> float:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            t = time.perf_counter()
            for path in paths:
                (await client.get(path)).raise_for_status()
            return (time.perf_counter() - t) / len(paths) * 1000

    out = []
    for name, fn in handlers.items():
        t = time.perf_counter()
        for lat, lon in points[:n]:
            fn(lat, lon)
        direct = (time.perf_counter() - t) / n * 1000
        in_app = asyncio.run(through_app(_paths(name, points[:n])))
        http = measure(name, base, points, 1, 5.0)["p50"]
        out.append((name, direct, in_app, http))
        prof = cProfile.Profile()
        prof.enable()
        for lat, lon in points[:n]:
            fn(lat, lon)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(6)
        console.print(f"[bold]{name} handler[/], top functions by own time over {n} calls:")
        console.print("\n".join(line for line in buf.getvalue().splitlines()[6:] if line.strip()))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis", action="store_true", help="live state in Redis instead of in-process")
    ap.add_argument("--history-days", type=int, default=7, help="availability history per lot for the forecasts")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients in the closed-loop runs")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    ap.add_argument("--nearby-rates", type=float, nargs="+", default=[1000.0, 200.0], help="open-loop requests/s for nearby")
    ap.add_argument("--guidance-rates", type=float, nargs="+", default=[100.0, 50.0], help="open-loop requests/s for guidance")
    ap.add_argument("--profile", action="store_true", help="also profile the handlers in-process")
    args = ap.parse_args(argv)

    import redis
    import uvicorn

    from gateways.app import create_app
    from gateways.bootstrap import Platform
    from gateways.guidance import forecaster_of
    from parking_core.settings import load_settings

    os.environ["PARKING_RATE_LIMIT_PER_MIN"] = "0"  # a few clients stand in for a city of drivers
    city = generate_city(args.lots, seed=args.seed)
    usage = {f["properties"]["id"]: f["properties"]["usage"] for f in city["features"]}
    lots = parse_registry(city)
    points = queries(lots, 2000, args.seed)
    rkey = f"bench:geo:{uuid.uuid4().hex[:10]}"
    r = redis.Redis.from_url(REDIS_URL)
    results, breakdown = [], []
    with tempfile.TemporaryDirectory(prefix="bench-guide-") as tmp, database("sqlite", Path(tmp)) as url:
        prepare_database(url, lots)
        redis_prefix = f"bench:guide:{uuid.uuid4().hex[:8]}:"
        settings = load_settings(DATABASE_URL=url, REDIS_URL=REDIS_URL if args.redis else "", PARKING_REDIS_PREFIX=redis_prefix)
        now = datetime.now(timezone.utc)
        platform = Platform(settings, with_ingest=False).start()
        t = time.perf_counter()
        rows = seed_history(platform, usage, args.history_days, now) if args.history_days else 0
        seed_live(platform, now)
        console.print(f"{len(lots):,} lots; {rows:,} history rows and live counts seeded in {time.perf_counter() - t:.1f} s; "
                      f"live state {'Redis' if args.redis else 'in-process'}, SQLite log")
        app = create_app(platform)
        port = free_port()
        timed = Timed(app)
        server = uvicorn.Server(uvicorn.Config(timed, host="127.0.0.1", port=port, log_level="warning", access_log=False))
        web = threading.Thread(target=server.run, name="http", daemon=True)
        web.start()
        base = f"http://127.0.0.1:{port}"
        try:
            if not wait_until(lambda: server.started, 30, 0.05):
                raise SystemExit("uvicorn did not start")
            r.geoadd(rkey, [v for info in lots for v in (info.lon, info.lat, info.id)])
            cold = measure("guidance", base, points, args.clients, args.duration, timed=timed)
            results.append(row("guidance", f"cold forecaster, {args.clients} clients", cold, timed))
            rss0, t = rss_mb(), time.perf_counter()
            forecaster_of(_Request(app)).prepare(list(platform.directory.lots), datetime.now(timezone.utc), wait_s=None)
            console.print(f"forecaster warmed for every lot in {time.perf_counter() - t:.1f} s; process RSS {rss0:,.0f} -> {rss_mb():,.0f} MB")
            timed.take()
            closed = f"closed, {args.clients} clients"
            for kind, target in (("nearby", base), ("geosearch", rkey), ("guidance", base)):
                results.append(row(kind, closed, measure(kind, target, points, args.clients, args.duration, timed=timed), timed))
            for kind, target, rates in (("nearby", base, args.nearby_rates), ("geosearch", rkey, args.nearby_rates[:1]),
                                        ("guidance", base, args.guidance_rates)):
                for rate in rates:
                    results.append(row(kind, f"open, {rate:,.0f} req/s", measure(kind, target, points, 32, args.duration, rate, timed), timed))
            if args.profile:
                breakdown = profile_handlers(app, platform, points, base)
        finally:
            r.delete(rkey)
            r.close()
            server.should_exit = True
            web.join(10)
            if args.redis:
                platform.live.clear()
            platform.stop()
    table("HTTP (and raw Redis) latency seen by the clients, ms; 'in server' is ASGI call to last byte",
          ["what", "load", "requests", "req/s", "p50", "p99", "max", "in server p50 / p99", "longest GC pause", "errors"], results)
    if breakdown:
        table("one request at a time, ms", ["endpoint", "handler alone", "whole app in-process (ASGI)", "over HTTP, p50"], breakdown)
    by = {(x[0], x[1]): x for x in results}
    closed = f"closed, {args.clients} clients"
    n, g = by[("nearby", closed)], by[("geosearch", closed)]
    console.print(f"nearby vs raw GEOSEARCH, closed loop: throughput {n[3] / g[3]:.2f}x, p50 {n[4] / g[4]:.1f}x, p99 {n[5] / g[5]:.1f}x")
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
