"""`parking serve --http-workers H --workers W` as a deployer runs it (PostgreSQL, Redis, a private Mosquitto with
the shipped config, the simulated city publishing in the background): does a flood of sensor messages slow the
API, and how soon do 1,000 open live streams see a change? Each figure beside a baseline from the same run.

1. HTTP: wrk, paced at --http-rate (500 req/s), on /v1/lots/nearby at 1 km for --duration s, (a) with only the
   background traffic (--rate msg/s), then (b) while the ingest drains --backlog berth and gate messages flat out
   (published beforehand while the ingest processes were stopped, so the publisher's own CPU is not measured). Target: p99(b) / p99(a) <= 2.0. Also the ingest rate reached
   during (b) (the workers' `received` counters), and after draining: received >= everything the broker acked.
2. SSE: --streams clients on /v1/stream (half by lot id, half by 1 km radius; each its own phone by
   X-Forwarded-For); per round one `counts` message with a new free count for a car park the simulator does not
   drive (so the change is certain); publish -> delivered to each stream. Target p99 <= 200 ms. Baselines: a bare
   paho subscriber hearing the device message itself (the broker's hop) and the ingest's retained availability
   message (what every HTTP process's follower hears before its streams can).

Run from the repository root:
    python -m bench.bench_serve [--http-workers 2] [--workers 1] [--lots 3300] [--rate 200] [--duration 10]
                                [--backlog 40000] [--streams 1000] [--rounds 10] [--json PATH] [--skip-sse] [--skip-http]
Prints figures; the only checks are the loss-accounting lines.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import redis

from bench.bench_nearby_guidance import _paths, queries, wrk
from bench.bench_sse import Clients
from bench.common import (
    REDIS_URL,
    SIM_PREFIX,
    backlog,
    connected_client,
    console,
    database,
    median,
    percentile,
    prepare_serve,
    private_mosquitto,
    publish_all,
    table,
    wait_until,
)
from parking_core.registry import parse_registry
from sensors.broker import free_port
from sensors.mqtt import MqttTarget, connect, make_client
from sensors.simulator import generate_city
from sensors.topics import Topics
from sensors.worker_status import WorkerBoard

SSE_LOT = "BENCH-SSE"  # registered, never driven by the simulator: each round's change is ours alone
SSE_TOTAL = 500


def city_with_sse_lot(n_lots: int) -> tuple[dict, dict]:
    """The simulator's city plus one counts-reporting car park beside its first on-street lot."""
    city = generate_city(n_lots, seed=1)
    near = next(f for f in city["features"] if f["properties"].get("berths"))
    like = next(f for f in city["features"] if f["properties"].get("reports") == "counts")
    lon, lat = near["geometry"]["coordinates"]
    lot = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon + 0.0003, 6), round(lat + 0.0003, 6)]},
           "properties": {**like["properties"], "id": SSE_LOT, "name": "bench SSE car park", "total": SSE_TOTAL}}
    return {**city, "features": [*city["features"], lot]}, {"id": SSE_LOT, "lat": lot["geometry"]["coordinates"][1],
                                                             "lon": lot["geometry"]["coordinates"][0]}


def berth_and_gate_backlog(city: dict, n: int, seed: int = 2) -> list[tuple[str, bytes]]:
    """`n` berth-state and gate-passage messages from the simulator (another seed than the background's; a backlog of
    another seed brings other cars, while its berth reports may be judged behind those already applied)."""
    out: list[tuple[str, bytes]] = []
    want = n
    while len(out) < n:
        out = [m for m in backlog(city, int(want * 1.5) + 100, seed=seed) if "/berths/" in m[0] or "/gates/" in m[0]]
        want *= 2
    return out[:n]


class IngestBoard:
    """The ingest workers' own reports (the Redis hash /healthz reads), sampled on a thread: `received` and lag.
    Read directly because /healthz of a `--http-workers` process lists no ingest workers (it runs none)."""

    def __init__(self, prefix: str, step_s: float = 0.25) -> None:
        self.board = WorkerBoard(REDIS_URL, prefix)
        self.step_s = step_s
        self.samples: list[tuple[float, dict[int, dict]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-board", daemon=True)

    def read(self) -> dict[int, dict]:
        return self.board.read()

    def received(self) -> int:
        return sum(int(w.get("received", 0)) for w in self.read().values())

    def start(self) -> "IngestBoard":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.step_s):
            try:
                self.samples.append((time.time(), self.read()))
            except redis.RedisError:
                pass

    def rate(self, t0: float, t1: float, counter: str = "received") -> dict:
        """A counter's rate a second, summed over the workers, between t0 and t1 (wall clock) by their report
        times: mean over the window, the best step between two reports, and the largest lag reported."""
        points: dict[int, list[tuple[float, int]]] = {}
        lag = 0.0
        for at, workers in self.samples:
            if t0 <= at <= t1 + 1.0:
                for wid, w in workers.items():
                    points.setdefault(wid, []).append((float(w.get("reported_at", at)), int(w.get(counter, 0))))
                    if at <= t1:
                        lag = max(lag, float(w.get("lag_s", 0.0)))
        mean = peak = 0.0
        for series in points.values():
            series = sorted(set(p for p in series if t0 - 1.0 <= p[0] <= t1 + 1.0))
            if len(series) >= 2 and series[-1][0] > series[0][0]:
                mean += (series[-1][1] - series[0][1]) / (series[-1][0] - series[0][0])
                peak += max(((b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(series, series[1:]) if b[0] > a[0]), default=0.0)
        return {"mean": mean, "peak": peak, "lag_s": lag}

    def restarts(self) -> int:
        """Worker processes replaced during the run (a new pid under a worker id): their counters began again."""
        pids: dict[int, set] = {}
        for _, workers in self.samples:
            for wid, w in workers.items():
                pids.setdefault(wid, set()).add(w.get("pid"))
        return sum(len(p) - 1 for p in pids.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.board.close()


def start_serve(cli: list[str], env: dict, port: int, a: argparse.Namespace, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cli + ["serve", "--port", str(port), "--dev", "--http-workers", str(a.http_workers), "--workers", str(a.workers)],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base: str, board: IngestBoard, workers: int, serve: subprocess.Popen, log: Path) -> None:
    """Until the API answers and every ingest worker reports itself connected."""
    def ready() -> bool:
        if serve.poll() is not None:
            raise SystemExit(f"parking serve exited with {serve.returncode}; see {log}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code != 200:
                return False
            ws = board.read()
        except (httpx.HTTPError, redis.RedisError):
            return False
        return len(ws) >= workers and all(w.get("alive") and w.get("connected") for w in ws.values())

    if not wait_until(ready, 180, 0.5):
        raise SystemExit(f"platform did not come up in 180 s; see {log}")


# -- 1. HTTP p99 while the ingest runs flat out ------------------------------------------------------------------


def ingest_pids(serve: subprocess.Popen) -> list[int]:
    """The serve's ingest processes (`parking ingest --worker-id K`): in the serve's session, by command line."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, IndexError, ValueError):
            continue
        if session == serve.pid and b"ingest" in cmd and b"--worker-id" in cmd:
            out.append(int(proc.name))
    return out


def http_phase(a: argparse.Namespace, base: str, broker: MqttTarget, city: dict, board: IngestBoard, tmp: Path,
               serve: subprocess.Popen) -> dict:
    """Nearby at a paced --http-rate, (a) beside the background traffic only, (b) while the ingest drains a backlog
    flat out; --repeat pairs, alternated, and their medians (this machine is noisy). Each backlog is published while
    the ingest processes are stopped (SIGSTOP: the broker keeps their persistent sessions' messages), so run (b)
    measures the ingest's load on the API, not this bench's publisher's."""
    lots = parse_registry(city)
    paths = _paths("nearby", queries(lots, 2000, 1))
    conns = a.http_connections
    wrk(base, paths[:200], 16, 2, tmp)  # warm connections and caches; not counted
    pairs, publish_s, drain_s, drained = [], [], [], True
    for k in range(a.repeat):
        flood = berth_and_gate_backlog(city, a.backlog, seed=2 + k)
        # (a) is the background only: the last drain's tail has gone through and a fresh report says so
        caught_up = time.time()
        wait_until(lambda: all(float(w.get("reported_at", 0)) > caught_up and float(w.get("lag_s", 0.0)) < 0.5
                               for w in board.read().values()), 120, 0.25)
        time.sleep(1.0)
        t0 = time.time()
        quiet = wrk(base, paths, conns, a.duration, tmp, rate=a.http_rate)
        quiet |= {"ingest": board.rate(t0, time.time()), "availability": board.rate(t0, time.time(), "availability_published")}
        before = board.received()
        held = ingest_pids(serve)
        for pid in held:
            os.kill(pid, signal.SIGSTOP)
        try:
            publish_s.append(publish_all(broker, flood, timeout=600))  # returns once every PUBACK is in
        finally:
            for pid in held:
                os.kill(pid, signal.SIGCONT)
        flood_t0 = time.perf_counter()
        wait_until(lambda: board.received() > before + 200, 10, 0.05)  # the ingest is at it
        t1 = time.time()
        busy = wrk(base, paths, conns, a.duration, tmp, rate=a.http_rate)
        busy |= {"ingest": board.rate(t1, time.time()), "availability": board.rate(t1, time.time(), "availability_published")}
        # drained: the backlog's count received on top of the background's (the simulator holds its rate)
        drained &= wait_until(lambda: board.received() - before >= a.backlog + 0.9 * a.rate * (time.perf_counter() - flood_t0), 600, 0.25)
        drain_s.append(time.perf_counter() - flood_t0)
        pairs.append((quiet, busy))
    quiet_p99, busy_p99 = median([q["p99"] for q, _ in pairs]), median([b["p99"] for _, b in pairs])
    return {"paths": len(paths), "pairs": pairs, "p99_ratio": busy_p99 / quiet_p99, "quiet_p99": quiet_p99, "busy_p99": busy_p99,
            "backlog": len(flood), "held": len(held), "backlog_acked": len(flood) * a.repeat, "publish_s": median(publish_s),
            "drain_s": median(drain_s), "drained": drained}


# -- 2. SSE: publish -> delivered on every open stream ---------------------------------------------------------------


class Baseline:
    """A bare paho subscriber on the SSE lot's counts topic (the broker's hop) and the availability filter
    (the ingest's retained answer, as the HTTP processes' followers hear it): when each free count arrived."""

    def __init__(self, broker: MqttTarget, topics: Topics) -> None:
        self.topics = topics
        self.seen: dict[tuple[str, int], float] = {}
        subscribed = threading.Event()
        self.client = make_client(broker, f"bench-sse-base-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe([(topics.counts(SSE_LOT), 1), (topics.availability_filter(), 1)])
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.loop_start()
        connect(self.client, broker)
        if not subscribed.wait(10):
            raise SystemExit("baseline subscriber could not subscribe")

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        at = time.perf_counter()
        if msg.topic == self.topics.counts(SSE_LOT):
            kind = "device"
        elif msg.topic == self.topics.availability(SSE_LOT):
            kind = "availability"
        else:
            return
        self.seen.setdefault((kind, int(orjson.loads(msg.payload)["free"])), at)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def counts_message(topics: Topics, free: int) -> tuple[str, bytes]:
    return topics.counts(SSE_LOT), orjson.dumps({"free": free, "total": SSE_TOTAL, "ts": datetime.now(timezone.utc).isoformat()})


def sse_phase(a: argparse.Namespace, port: int, broker: MqttTarget, target: dict) -> dict:
    topics = Topics(SIM_PREFIX)
    pub = connected_client(broker, "bench-sse-pub")
    pub.publish(*counts_message(topics, SSE_TOTAL), qos=1).wait_for_publish(10)  # the lot known before streams open
    base = Baseline(broker, topics)
    wait_until(lambda: ("availability", SSE_TOTAL) in base.seen, 10)
    queries_ = [f"lots={SSE_LOT}" if i % 2 else f"lat={target['lat']}&lon={target['lon']}&radius_m=1000" for i in range(a.streams)]
    t = time.perf_counter()
    clients = Clients(port, queries_, deadline=time.monotonic() + 120)
    rounds, every, device_ms, avail_ms = [], [], [], []
    try:
        clients.wait_all(b"event: ready")
        opened_s = time.perf_counter() - t
        console.print(f"{a.streams:,} streams open and past their current state in {opened_s:.1f} s")
        for r in range(a.rounds):
            free = r % (SSE_TOTAL - 1) + 1  # 1..499, never the last round's, never the seed's 500
            marker = f'"lot_id":"{SSE_LOT}","free":{free},'.encode()
            got: list[float] = []
            listening = threading.Event()
            clients.deadline = time.monotonic() + 30
            reader = threading.Thread(target=lambda m=marker, ev=listening: got.extend(clients.wait_all(m, ev)), daemon=True)
            reader.start()
            listening.wait()
            time.sleep(0.2)
            topic, payload = counts_message(topics, free)
            sent = time.perf_counter()
            pub.publish(topic, payload, qos=1)
            reader.join(35)
            if len(got) != a.streams:
                raise SystemExit(f"round {r + 1}: {len(got)} of {a.streams} streams got the change")
            ms = [(x - sent) * 1000 for x in got]
            dev = (base.seen.get(("device", free), float("nan")) - sent) * 1000
            av = (base.seen.get(("availability", free), float("nan")) - sent) * 1000
            every += ms
            device_ms.append(dev)
            avail_ms.append(av)
            rounds.append({"round": r + 1, "p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms),
                           "device_ms": dev, "availability_ms": av})
            time.sleep(0.3)
    finally:
        clients.close()
        base.close()
        pub.disconnect()
        pub.loop_stop()
    return {"streams": a.streams, "opened_s": opened_s, "rounds": rounds,
            "overall": {"p50": percentile(every, 50), "p99": percentile(every, 99), "max": max(every)},
            "device": {"p50": percentile(device_ms, 50), "max": max(device_ms)},
            "availability": {"p50": percentile(avail_ms, 50), "max": max(avail_ms)}}


# -- the run ----------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http-workers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="ingest processes")
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--rate", type=float, default=200.0, help="background sensor messages a second (the simulator)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run")
    ap.add_argument("--http-rate", type=float, default=500.0, help="nearby requests a second offered by wrk, paced, in both runs")
    ap.add_argument("--http-connections", type=int, default=32, help="wrk connections of the paced runs")
    ap.add_argument("--repeat", type=int, default=3, help="pairs of HTTP runs (background only, draining), medians reported")
    ap.add_argument("--backlog", type=int, default=40_000, help="berth and gate messages flooded during run (b)")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--skip-sse", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    a = ap.parse_args()
    if a.http_workers < 2:
        raise SystemExit("--http-workers must be 2 or more: this bench measures the split deployment")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * a.streams + 1024  # our clients' sockets, and the serve's (it inherits the limit)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    city, target = city_with_sse_lot(a.lots)
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    prefix = f"bench:serve:{uuid.uuid4().hex[:8]}:"
    figures: dict = {"http_workers": a.http_workers, "ingest_workers": a.workers, "lots": a.lots, "rate": a.rate}
    console.print(f"parking serve --http-workers {a.http_workers} --workers {a.workers} --dev: {a.lots:,} car parks, "
                  f"PostgreSQL + Redis + private Mosquitto, simulator at {a.rate:,.0f} msg/s; {os.cpu_count()} CPUs")
    try:
        run(a, city, target, tmp, prefix, figures)
    except BaseException:
        console.print(f"serve's log kept in {tmp / 'serve.log'}")
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    report(a, figures)
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2, default=str))


def run(a: argparse.Namespace, city: dict, target: dict, tmp: Path, prefix: str, figures: dict) -> None:
    """Broker, database, `parking serve` and the simulator up; the phases; everything down again."""
    with private_mosquitto() as broker, database("postgres", tmp) as db_url:
        mqtt_url = f"mqtt://{broker.username}@{broker.host}:{broker.port}"
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "PARKING_REDIS_PREFIX": prefix, "MQTT_URL": mqtt_url,
               "PARKING_TOPIC_PREFIX": SIM_PREFIX, "PARKING_DATA_DIR": str(tmp / "data"),
               "PARKING_MQTT_CLIENT_ID": f"bench-serve-{uuid.uuid4().hex[:6]}",
               "PARKING_RATE_LIMIT_PER_MIN": "0",  # wrk's 16 connections stand in for a city of drivers
               "PARKING_TRUSTED_PROXIES": "127.0.0.1",  # the stream clients are phones behind this proxy (X-Forwarded-For)
               "PARKING_MAX_STREAMS_PER_CLIENT": str(max(5, a.streams))}
        cli = prepare_serve(city, env, tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp / "serve.log"
        serve = start_serve(cli, env, port, a, log)
        board = IngestBoard(prefix)
        sim = None
        sent_sim: dict = {}
        try:
            wait_ready(base, board, a.workers, serve, log)
            board.start()
            sim = subprocess.Popen([sys.executable, "-m", "sensors.simulator.run", "--url", mqtt_url, "--lots", str(a.lots),
                                    "--rate", str(a.rate), "--seed", "1", "--prefix", SIM_PREFIX, "--quiet"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(3.0)  # the simulator connected and publishing
            if not a.skip_http:
                figures["http"] = http_phase(a, base, broker, city, board, tmp, serve)
            if not a.skip_sse:
                figures["sse"] = sse_phase(a, port, broker, target)
            sim.send_signal(signal.SIGINT)  # it finishes, waits for its PUBACKs and prints its counts
            sent_sim = json.loads(sim.communicate(timeout=60)[0].strip().splitlines()[-1])
            owed = sent_sim["acked"] + figures.get("http", {}).get("backlog_acked", 0) + (a.rounds + 1 if not a.skip_sse else 0)
            wait_until(lambda: board.received() >= owed, 120, 0.25)
            workers = board.read()
            figures["accounting"] = {"simulator_acked": sent_sim["acked"], "owed": owed,
                                     "received": sum(int(w.get("received", 0)) for w in workers.values()),
                                     "internal_errors": sum(int(w.get("internal_errors", 0)) for w in workers.values()),
                                     "restarts": board.restarts()}
        finally:
            if sim is not None and sim.poll() is None:
                sim.kill()
                sim.wait(10)
            board.stop()
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait(10)
            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(f"{prefix}*", count=1000))
            for i in range(0, len(keys), 1000):
                r.delete(*keys[i:i + 1000])
            r.close()


def report(a: argparse.Namespace, f: dict) -> None:
    if "http" in f:
        h = f["http"]
        rows = []
        for k, (q, b) in enumerate(h["pairs"], 1):
            for label, m in ((f"{k}a background only", q), (f"{k}b + {h['backlog']:,} berth/gate messages draining", b)):
                rows.append([label, m["n"], m["rps"], m["p50"], m["p99"], m["errors"],
                             f"{m['ingest']['mean']:,.0f} / {m['ingest']['peak']:,.0f}", m["ingest"]["lag_s"], m["availability"]["mean"]])
        table(f"GET /v1/lots/nearby 1 km, {a.http_rate:,.0f} req/s offered (wrk paced, {a.http_connections} connections), {a.duration:g} s "
              f"each; {a.http_workers} HTTP + {a.workers} ingest processes (PARKING_INGEST_NICE {os.environ.get('PARKING_INGEST_NICE', 10)})",
              ["run", "requests", "req/s", "p50 ms", "p99 ms", "non-2xx", "ingest msg/s (mean / best 1 s)", "ingest lag s",
               "changes/s each HTTP process hears"], rows)
        console.print(f"median p99: {h['quiet_p99']:.1f} ms background only, {h['busy_p99']:.1f} ms while draining; ratio "
                      f"{h['p99_ratio']:.2f} (target <= 2.0: {'met' if h['p99_ratio'] <= 2.0 else 'NOT met'}); each backlog published in "
                      f"{h['publish_s']:.1f} s (median) while the {h['held']} ingest process(es) were stopped, then drained "
                      f"{'' if h['drained'] else 'NOT '}in {h['drain_s']:.1f} s (wrk ran {a.duration:g} s of it)")
    if "sse" in f:
        s = f["sse"]
        rows = [[r["round"], r["p50"], r["p99"], r["max"], r["device_ms"], r["availability_ms"]] for r in s["rounds"]]
        o = s["overall"]
        rows.append(["all", o["p50"], o["p99"], o["max"], f"p50 {s['device']['p50']:.1f}", f"p50 {s['availability']['p50']:.1f}"])
        table(f"SSE: {s['streams']:,} streams, one counts change a round, ms from the publish; "
              "baseline: a bare subscriber hearing the device message / the ingest's availability message",
              ["round", "streams p50", "streams p99", "streams max", "device msg (broker hop)", "availability msg"], rows)
        console.print(f"SSE p99 {o['p99']:.1f} ms (target <= 200 ms: {'met' if o['p99'] <= 200 else 'NOT met'}); "
                      f"streams opened in {s['opened_s']:.1f} s")
    if "accounting" in f:
        c = f["accounting"]
        lost = c["owed"] - c["received"]
        table("accounting: every message the broker acked (simulator + backlog + SSE rounds) received by the ingest",
              ["acked (owed)", "received", "acked, not received", "internal errors", "worker restarts"],
              [[c["owed"], c["received"], max(0, lost), c["internal_errors"], c["restarts"]]])
        console.print("nothing lost" if lost <= 0 else f"[bold red]{lost:,} acked messages not received[/]")
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
