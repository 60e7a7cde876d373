"""Throughput and latency of GET /v1/lots/nearby (1 km and 5 km, 20 results), /v1/guidance and
/v1/lots/{id}/forecast for a city of 3,300 car parks, on the production configuration (PostgreSQL event log,
live state in Redis) with sensor updates applied in the background, beside two baselines in the same run:
raw Redis GEOSEARCH of the same queries, and `GET /v1/lots/{id}` (one lot: one Redis read, the least an
endpoint of this app costs). Targets: nearby >= 1,000 req/s with p99 <= 20 ms at 1 km; guidance p99 <= 50 ms
at 100 req/s; forecast p99 <= 50 ms for any lot, with or without history.

Run from the repository root:
    python -m bench.bench_nearby_guidance [--workers 1] [--lots 3300] [--duration 10] [--updates 200] [--embedded]

With --workers 1 the platform is served in this process (uvicorn on a thread, so 'in server' times and GC pauses
are measured); with --workers N by N uvicorn worker processes from `gateways.http.worker:create_app_from_env`,
while this process applies the background updates (the ingest's work) to the same PostgreSQL and Redis.
Closed-loop figures come from wrk (`apt-get install wrk`; --wrk-connections, 16 as in the issue), open-loop ones
(requests on a fixed schedule, latency counted from when each was due) from httpx clients in another process.
--embedded uses SQLite and in-process live state instead (one worker only). Prints figures, no asserts.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
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
from sensors.topics import Topics


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
    topics, ts = Topics(platform.settings.topic_prefix), now.isoformat()
    msgs = []
    for info in platform.directory.lots.values():
        if rnd.random() < silent_share:
            continue
        if info.berths:
            msgs += [(topics.berth_state(info.id, b), orjson.dumps({"occupied": rnd.random() < 0.7, "seq": 1, "ts": ts}))
                     for b in info.berths]
        else:
            msgs.append((topics.counts(info.id), orjson.dumps({"free": rnd.randint(0, info.total), "total": info.total, "ts": ts})))
    for i in range(0, len(msgs), 2000):
        platform.pipeline.process(msgs[i:i + 2000])


# -- the load, in a process of its own ------------------------------------------------------------------------


def _paths(kind: str, points: list[tuple[float, float]]) -> list[str]:
    if kind.startswith("nearby"):
        radius = 5000 if kind == "nearby5" else 1000
        return [f"/v1/lots/nearby?lat={lat}&lon={lon}&radius_m={radius}&limit=20" for lat, lon in points]
    if kind in ("lot", "forecast"):  # `points` are lot ids here
        return [f"/v1/lots/{i}" + ("/forecast" if kind == "forecast" else "") for i in points]
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
    if kind.startswith("geosearch"):
        r = redis.Redis.from_url(REDIS_URL)
        key = target

        radius = 5000 if key.endswith(":5") else 1000

        def call(i: int) -> bool:
            lat, lon = points[i % len(points)]
            return r.geosearch(key[:-2], longitude=lon, latitude=lat, radius=radius, unit="m", sort="ASC", count=20, withdist=True) is not None
    else:
        paths = _paths(kind, points)
        local = threading.local()

        def call(i: int) -> bool:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=target, timeout=30)
            return client.get(paths[i % len(paths)]).status_code == 200

    def worker(w: int) -> None:
        if kind.startswith("geosearch"):
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

    from gateways.citizen.guidance import forecaster_of, guidance
    from gateways.citizen.lots import nearby

    forecaster = forecaster_of(_Request(app))
    handlers = {
        "nearby": lambda lat, lon: nearby(platform, "wgs84", lat=lat, lon=lon, radius_m=1000, min_free=0, limit=20),
        "guidance": lambda lat, lon: guidance(platform, forecaster, "wgs84", lat=lat, lon=lon, arrive_in_min=15, vehicle="small",
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


def wrk(base: str, paths: list[str], connections: int, duration_s: float, tmp: Path, rate: float = 0.0) -> dict:
    """Closed loop with wrk (2 threads, `connections` connections) over the paths in turn: req/s and p50/p99.

    With `rate`, paced: each connection waits `connections / rate` s after each answer (wrk's `delay`), so about
    `rate` requests a second are offered however fast the server is, and the latencies are those of a server
    at that load rather than of 16 queued callers (wrk does not correct for coordinated omission: while the
    server stalls, fewer requests are sent)."""
    import shutil
    import subprocess

    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    script = tmp / f"paths-{uuid.uuid4().hex[:6]}.lua"
    script.write_text("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\ni = 0\n"
                      "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
                      + (f"delay = function()\n  return {connections * 1000 / rate:.3f}\nend\n" if rate else ""))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration_s:.0f}s", "--latency", "-s", str(script), base],
                         capture_output=True, text=True, timeout=duration_s + 60).stdout
    def ms(label: str) -> float:
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == label:
                v = parts[1]
                return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
        return float("nan")
    rps = next((float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec")), float("nan"))
    n = next((int(line.split()[0]) for line in out.splitlines() if "requests in" in line), 0)
    bad = next((int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line), 0)
    return {"n": n, "rps": rps, "p50": ms("50%"), "p99": ms("99%"), "max": float("nan"), "errors": bad}


class _Done(Exception):
    """--only: the quick look is over."""


def paced(args, base: str, points, tmp: Path, results: list, timed) -> None:  # noqa: ANN001
    """Nearby at 1 and 5 km at the offered rates (wrk, paced): the target's 1,000 req/s with its p99."""
    for rate in args.paced or ():
        for kind in ("nearby", "nearby5"):
            m = wrk(base, _paths(kind, points), args.paced_connections, args.duration, tmp, rate=rate)
            results.append(row(kind, f"paced (wrk), {rate:,.0f} req/s offered, {args.paced_connections} connections", m, timed))


class Updates:
    """The ingest's work beside the requests: `rate` counts messages a second on random lots, through the pipeline."""

    def __init__(self, platform, rate: float, seed: int = 3) -> None:
        self.platform, self.rate = platform, rate
        self.lots = [i for i in platform.directory.lots.values() if i.total > 0 and not i.berths]
        self.rnd = random.Random(seed)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="updates", daemon=True)

    def start(self) -> "Updates":
        if self.rate > 0:
            self._thread.start()
        return self

    def _run(self) -> None:
        topics, step, t0 = Topics(self.platform.settings.topic_prefix), 0.05, time.perf_counter()
        while not self._stop.is_set():
            due = int((time.perf_counter() - t0) * self.rate) - self.sent
            ts = datetime.now(timezone.utc).isoformat()
            batch = []
            for _ in range(max(0, due)):
                info = self.rnd.choice(self.lots)
                batch.append((topics.counts(info.id),
                              orjson.dumps({"free": self.rnd.randint(0, info.total), "total": info.total, "ts": ts})))
            if batch:
                self.platform.pipeline.process(batch)
                self.sent += len(batch)
            self._stop.wait(step)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


def serve_workers(n: int, port: int, env: dict[str, str]):
    """N uvicorn worker processes of the HTTP app from the environment, as `parking serve` can run them."""
    import subprocess
    import sys

    code = ("import uvicorn; uvicorn.run('gateways.http.worker:create_app_from_env', factory=True, host='127.0.0.1', "
            f"port={port}, workers={n}, log_level='warning', access_log=False)")
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env})


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the uvicorn workers)."""
    import subprocess

    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def prime_workers(base: str, lot_ids: list[str], pid: int, timeout_s: float = 600) -> float:
    """Ask every lot's forecast four times (each worker process queues what it gets), then wait until the workers
    have learnt it all (their CPU falls quiet): seconds taken."""
    import httpx

    t = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as client:  # a new connection
        for _ in range(4):  # each time, so the kernel spreads the requests over the workers
            for i in lot_ids:
                client.get(f"/v1/lots/{i}/forecast")
    before = tree_cpu_s(pid)
    while time.perf_counter() - t < timeout_s:
        time.sleep(5)
        now = tree_cpu_s(pid)
        if now - before < 0.5:  # under 10 % of a core over 5 s
            break
        before = now
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--embedded", action="store_true", help="SQLite and in-process live state instead of PostgreSQL and Redis")
    ap.add_argument("--workers", type=int, default=1, help="HTTP worker processes (more than 1: gateways.http.worker)")
    ap.add_argument("--updates", type=float, default=200.0, help="sensor updates a second applied in the background")
    ap.add_argument("--history-days", type=int, default=3, help="availability history per lot for the forecasts")
    ap.add_argument("--clients", type=int, default=32, help="client threads of the open-loop runs")
    ap.add_argument("--wrk-connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    ap.add_argument("--nearby-rates", type=float, nargs="+", default=[1000.0], help="open-loop requests/s for nearby at 1 km")
    ap.add_argument("--paced", type=float, nargs="*", default=[1000.0], help="requests/s offered by wrk, paced (nearby at 1 and 5 km)")
    ap.add_argument("--paced-connections", type=int, default=64, help="wrk connections of the paced runs")
    ap.add_argument("--only", nargs="+", choices=("lot", "nearby", "nearby5", "guidance"),
                    help="just these closed-loop runs and the paced ones: no forecasts, GEOSEARCH or open loops (a quick look)")
    ap.add_argument("--guidance-rates", type=float, nargs="+", default=[100.0], help="open-loop requests/s for guidance")
    ap.add_argument("--forecast-rate", type=float, default=100.0, help="open-loop requests/s for forecasts")
    ap.add_argument("--profile", action="store_true", help="also profile the handlers in-process (--workers 1)")
    ap.add_argument("--json", type=Path, help="also write every row to this file (bench_workers reads it)")
    args = ap.parse_args(argv)
    if args.embedded and args.workers > 1:
        raise SystemExit("--workers above 1 needs Redis: drop --embedded")

    import redis
    import uvicorn

    from gateways.bootstrap import Platform
    from gateways.citizen.guidance import forecaster_of
    from gateways.http.app import create_app
    from parking_core.settings import load_settings

    os.environ["PARKING_RATE_LIMIT_PER_MIN"] = "0"  # a few clients stand in for a city of drivers
    city = generate_city(args.lots, seed=args.seed)
    usage = {f["properties"]["id"]: f["properties"]["usage"] for f in city["features"]}
    lots = parse_registry(city)
    points = queries(lots, 2000, args.seed)
    rnd = random.Random(args.seed)
    lot_ids = [rnd.choice(lots).id for _ in range(2000)]
    rkey = f"bench:geo:{uuid.uuid4().hex[:10]}"
    r = redis.Redis.from_url(REDIS_URL)
    results, breakdown = [], []
    config = "SQLite + in-process live state" if args.embedded else "PostgreSQL + Redis"
    with tempfile.TemporaryDirectory(prefix="bench-guide-") as tmp, database("sqlite" if args.embedded else "pg", Path(tmp)) as url:
        prepare_database(url, lots)
        redis_prefix = f"bench:guide:{uuid.uuid4().hex[:8]}:"
        env = {"DATABASE_URL": url, "REDIS_URL": "" if args.embedded else REDIS_URL, "PARKING_REDIS_PREFIX": redis_prefix,
               "MQTT_URL": "", "PARKING_RATE_LIMIT_PER_MIN": "0"}
        settings = load_settings(**env)
        now = datetime.now(timezone.utc)
        platform = Platform(settings, with_ingest=False).start()
        t = time.perf_counter()
        rows = seed_history(platform, usage, args.history_days, now) if args.history_days else 0
        seed_live(platform, now)
        console.print(f"{len(lots):,} lots; {rows:,} history rows and live counts seeded in {time.perf_counter() - t:.1f} s; "
                      f"{config}; {args.workers} HTTP worker(s); {args.updates:,.0f} updates/s in the background")
        gc.collect()
        gc.freeze()  # as `parking serve` does after start: start-up objects are not traversed by every collection
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        timed = server = web = proc = None
        if args.workers == 1:
            app = create_app(platform)
            timed = Timed(app)
            server = uvicorn.Server(uvicorn.Config(timed, host="127.0.0.1", port=port, log_level="warning", access_log=False))
            web = threading.Thread(target=server.run, name="http", daemon=True)
            web.start()
            started = lambda: server.started  # noqa: E731
        else:
            proc = serve_workers(args.workers, port, {k: v for k, v in env.items() if v})

            def started() -> bool:
                import httpx

                try:
                    return httpx.get(f"{base}/v1/lots/{lots[0].id}", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False
        updates = Updates(platform, args.updates)
        try:
            if not wait_until(started, 120, 0.2):
                raise SystemExit("the HTTP server did not start")
            r.geoadd(rkey, [v for info in lots for v in (info.lon, info.lat, info.id)])
            updates.start()
            if args.only:
                wrk_mode = f"closed (wrk), {args.wrk_connections} connections"
                for kind in args.only:
                    paths = _paths(kind, lot_ids if kind == "lot" else points)
                    results.append(row(kind, wrk_mode, wrk(base, paths, args.wrk_connections, args.duration, Path(tmp)), timed))
                paced(args, base, points, Path(tmp), results, timed)
                raise _Done
            # a forecast for any lot answers at once, history or not: measured before anything was learnt
            results.append(row("forecast", f"open, {args.forecast_rate:,.0f} req/s, nothing learnt yet",
                               measure("forecast", base, lot_ids, args.clients, args.duration, args.forecast_rate, timed), timed))
            if args.workers == 1:
                rss0, t = rss_mb(), time.perf_counter()
                forecaster = forecaster_of(_Request(app))
                if hasattr(forecaster, "wait_idle"):
                    forecaster.learn_share = 1.0  # no requests meanwhile: learn at full speed
                    forecaster.prepare(list(platform.directory.lots), datetime.now(timezone.utc))
                    forecaster.wait_idle()
                    forecaster.learn_share = 0.25
                else:  # the code before forecasts stopped waiting (to measure it with this bench)
                    forecaster.prepare(list(platform.directory.lots), datetime.now(timezone.utc), wait_s=None)
                gc.freeze()  # what was learnt lives on, as start-up objects do
                console.print(f"forecaster learnt every lot in {time.perf_counter() - t:.1f} s; process RSS {rss0:,.0f} -> {rss_mb():,.0f} MB")
            else:
                took = prime_workers(base, [i.id for i in lots], proc.pid)
                console.print(f"{args.workers} workers learnt every lot's forecast (asked for each, then quiet) in {took:.0f} s")
            if timed is not None:
                timed.take()
            wrk_mode = f"closed (wrk), {args.wrk_connections} connections"
            for kind in ("lot", "nearby", "nearby5", "guidance"):
                paths = _paths(kind, lot_ids if kind == "lot" else points)
                results.append(row(kind, wrk_mode, wrk(base, paths, args.wrk_connections, args.duration, Path(tmp)), timed))
            for kind, target in (("geosearch", rkey + ":1"), ("geosearch5", rkey + ":5")):
                results.append(row(kind, f"closed, {args.clients} clients", measure(kind, target, points, args.clients, args.duration)))
            paced(args, base, points, Path(tmp), results, timed)
            for kind, rates in (("nearby", args.nearby_rates), ("guidance", args.guidance_rates), ("forecast", [args.forecast_rate])):
                for rate in rates:
                    results.append(row(kind, f"open, {rate:,.0f} req/s", measure(kind, base, lot_ids if kind == "forecast" else points,
                                                                              args.clients, args.duration, rate, timed), timed))
            if args.profile and args.workers == 1:
                breakdown = profile_handlers(app, platform, points, base)
        except _Done:
            pass
        finally:
            updates.stop()
            r.delete(rkey)
            r.close()
            if server is not None:
                server.should_exit = True
                web.join(10)
            if proc is not None:
                proc.terminate()
                proc.wait(30)
            if not args.embedded:
                platform.live.clear()
            platform.stop()
    table(f"{config}, {args.workers} HTTP worker(s), {updates.sent:,} updates applied meanwhile: latency seen by the clients, ms; "
          "'in server' is ASGI call to last byte", ["what", "load", "requests", "req/s", "p50", "p99", "max", "in server p50 / p99",
                                                    "longest GC pause", "errors"], results)
    if breakdown:
        table("one request at a time, ms", ["endpoint", "handler alone", "whole app in-process (ASGI)", "over HTTP, p50"], breakdown)
    if args.json:
        keys = ("what", "load", "requests", "rps", "p50", "p99", "max", "in_server", "gc_ms", "errors")
        args.json.write_text(json.dumps({"workers": args.workers, "config": config, "rows": [dict(zip(keys, x)) for x in results]}))
    by = {x[0]: x for x in results if "closed" in x[1]}
    for near, geo in (("nearby", "geosearch"), ("nearby5", "geosearch5")):
        if near not in by or geo not in by or "lot" not in by:
            continue
        console.print(f"{near} vs raw GEOSEARCH, closed loop: throughput {by[near][3] / by[geo][3]:.2f}x; "
                      f"vs one-lot endpoint {by[near][3] / by['lot'][3]:.2f}x")
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
