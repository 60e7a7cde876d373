"""How fast the platform drains a broker backlog, against a subscriber that only counts.

The same backlog of simulated messages is queued in two persistent sessions of a private
Mosquitto (the shipped config): (a) a bare paho subscriber, MQTT 5, QoS 1, auto-ack, and
(b) the platform's ingest (MqttIngest -> IngestPipeline -> live state + event log). Each
then connects and is timed until it has handled every message; the platform's result is
checked for zero loss. Run from the repository root:

    python -m bench.bench_ingest [--messages 40000] [--runs 3] [--redis] [--pg] [--workers N] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    REDIS_URL,
    SIM_PREFIX,
    backlog,
    console,
    count_rows,
    database,
    expected,
    live_mismatches,
    median,
    prepare_database,
    private_mosquitto,
    publish_all,
    retopic,
    table,
    wait_until,
)
from sensors.mqtt import MqttTarget, connect, make_client
from sensors.topics import Topics

DRAIN_TIMEOUT_S = 600


class BareSubscriber:
    """The floor: receive and count, nothing else (paho acks QoS 1 by itself)."""

    def __init__(self, target: MqttTarget, prefix: str, client_id: str) -> None:
        self.target, self.prefix, self.client_id = target, prefix, client_id
        self.n = 0

    def _client(self, subscribe: bool, done: threading.Event, want: int):
        c = make_client(self.target, self.client_id, persistent=True)

        def on_message(client, userdata, msg) -> None:  # noqa: ANN001
            self.n += 1
            if self.n >= want:
                done.set()

        c.on_message = on_message
        if subscribe:
            c.on_connect = lambda cl, *a: cl.subscribe([(t, 1) for t in Topics(self.prefix).device_filters()])
            c.on_subscribe = lambda *a: done.set()
        return c

    def subscribe_and_leave(self) -> None:
        subscribed = threading.Event()
        c = self._client(True, subscribed, 1 << 62)
        connect(c, self.target, persistent=True)
        c.loop_start()
        if not subscribed.wait(10):
            raise SystemExit("bare subscriber: no SUBACK")
        c.disconnect()
        c.loop_stop()

    def drain(self, want: int) -> float:
        done = threading.Event()
        self.n = 0
        c = self._client(False, done, want)
        t0 = time.perf_counter()
        connect(c, self.target, persistent=True)
        c.loop_start()
        if not done.wait(DRAIN_TIMEOUT_S):
            raise SystemExit(f"bare subscriber got {self.n} of {want}")
        took = time.perf_counter() - t0
        c.disconnect()
        c.loop_stop()
        return took


@dataclass
class PlatformConfig:
    """Everything a platform ingest (in this process or a worker process) is built from."""

    host: str
    port: int
    prefix: str
    db_url: str
    redis_url: str | None
    redis_prefix: str
    client_id: str
    batch: int = 500
    flush_ms: float = 0.0


class PlatformIngest:
    """The platform's own pieces, wired as gateways.bootstrap.Platform.start wires them."""

    def __init__(self, cfg: PlatformConfig) -> None:
        from sqlalchemy.orm import sessionmaker

        from parking_core.db import UnitOfWork, make_engine
        from parking_core.directory import Directory
        from parking_core.live import open_live_state
        from parking_core.registry import load_lots
        from parking_core.settings import load_settings
        from sensors.mqtt import Publisher
        from sensors.pipeline import IngestPipeline

        self.cfg = cfg
        self.target = MqttTarget(cfg.host, cfg.port, username="platform")
        s = load_settings(
            DATABASE_URL=cfg.db_url, REDIS_URL=cfg.redis_url or "", MQTT_URL=f"mqtt://platform@{cfg.host}:{cfg.port}",
            PARKING_TOPIC_PREFIX=cfg.prefix, PARKING_REDIS_PREFIX=cfg.redis_prefix,
            PARKING_INGEST_BATCH=cfg.batch, PARKING_INGEST_FLUSH_MS=cfg.flush_ms,
        )
        self.settings = s
        self.engine = make_engine(s.resolved_database_url())
        factory = sessionmaker(self.engine, expire_on_commit=False)
        self.live = open_live_state(s.redis_url, prefix=s.redis_prefix)
        with UnitOfWork(factory) as uow:
            lots = load_lots(uow.session)
        self.directory = Directory(lots)
        was_ready = self.live.is_configured()  # as Platform.start: Redis another worker filled is current
        self.live.configure(lots, ready=was_ready)
        self.publisher = Publisher(self.target, f"{cfg.client_id}-pub")
        self.pipeline = IngestPipeline(
            directory=self.directory, live=self.live, uow_factory=lambda: UnitOfWork(factory),
            publish=lambda t, p, r: self.publisher(t, p, r), topic_prefix=s.topic_prefix,
            settle_s=s.debounce_s, almost_full_ratio=s.almost_full_ratio,
        )
        if not was_ready:
            self.pipeline.rebuild()
        self.handle = self.pipeline.process
        self.ingest = None

    def _ingest(self):
        from sensors.mqtt import MqttIngest

        return MqttIngest(
            self.handle, self.target, topic_prefix=self.settings.topic_prefix, client_id=self.cfg.client_id,
            shared_group="parking", batch_size=self.settings.ingest_batch_size, flush_ms=self.settings.ingest_flush_ms,
        )

    def subscribe_and_leave(self) -> None:
        ing = self._ingest().start()
        if not ing.subscribed.wait(10):
            raise SystemExit("platform ingest did not subscribe")
        time.sleep(0.3)  # let the SUBACK come back before leaving
        ing.stop()

    def start(self):
        self.ingest = self._ingest()
        self.ingest.start()
        return self.ingest

    def close(self) -> None:
        if self.ingest:
            self.ingest.stop()
        self.publisher.close()
        self.live.close()
        self.engine.dispose()


def _worker(cfg: PlatformConfig, index: int, ready, go, stop, counters, stats_q) -> None:
    """One ingest process of several sharing `$share/parking/...`."""
    p = PlatformIngest(cfg)
    p.subscribe_and_leave()
    ready.release()
    go.wait()
    ing = p.start()
    while not stop.is_set():
        counters[index] = ing.processed
        time.sleep(0.005)
    counters[index] = ing.processed
    stats_q.put(p.pipeline.stats.as_dict())
    p.close()


@dataclass
class RunResult:
    bare_s: float
    platform_s: float
    messages: int
    rows: int
    unique: int
    mismatched_lots: int
    rejected: int
    expected_rejected: int
    cpu: dict = field(default_factory=dict)
    machine_cpu: dict = field(default_factory=dict)  # {"bare"|"platform": {part: CPU s}} during each drain

    @property
    def ok(self) -> bool:
        return self.rows == self.unique and self.mismatched_lots == 0 and self.rejected == self.expected_rejected


def _thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each live thread of this process, by thread name."""
    out = {}
    for t in threading.enumerate():
        try:
            out[t.name] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, TypeError, AttributeError):
            pass
    return out


def _cpu_by_part(pids: list[int]) -> dict[str, float]:
    """CPU seconds used so far, machine-wide, by part: PostgreSQL, Redis and Mosquitto (every process of each,
    by name), and `pids` (this bench and its workers): what a drain costs the whole machine, not one process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"postgres": 0.0, "redis": 0.0, "mosquitto": 0.0, "python (bench, workers)": 0.0}
    mine = set(pids)
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            head, tail = (proc / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        name, fields = head.split("(", 1)[1], tail.split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(proc.name) in mine:
            out["python (bench, workers)"] += cpu
        elif name.startswith("postgres"):
            out["postgres"] += cpu
        elif name.startswith("redis-server"):
            out["redis"] += cpu
        elif name.startswith("mosquitto"):
            out["mosquitto"] += cpu
    return out


def _forget_redis(prefix: str) -> None:
    from parking_core.live import open_live_state

    live = open_live_state(REDIS_URL, prefix=prefix)
    live.clear()
    live.close()


def run_once(args, target: MqttTarget, city: dict, lots, messages, tmp: Path, index: int, profiler: cProfile.Profile | None) -> RunResult:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench/{tag}/parking/v1"
    msgs = retopic(messages, prefix)
    exp = expected(lots, msgs, prefix)
    redis_prefix = f"bench:{tag}:"
    try:
        with database("pg" if args.pg else "sqlite", tmp) as url:
            prepare_database(url, lots)
            cfg = PlatformConfig(
                host=target.host, port=target.port, prefix=prefix, db_url=url, redis_url=REDIS_URL if args.redis else None,
                redis_prefix=redis_prefix, client_id=f"bench-ingest-{tag}", batch=args.batch, flush_ms=args.flush_ms,
            )
            bare = BareSubscriber(target, prefix, f"bench-bare-{tag}")
            bare.subscribe_and_leave()
            procs, local = [], None
            if args.workers > 1:
                ctx = mp.get_context("spawn")
                ready, go, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
                counters, stats_q = ctx.Array("q", args.workers), ctx.Queue()
                for i in range(args.workers):
                    # one after the other: two workers starting on an empty Redis at once can crash in
                    # RedisLiveState.configure while the other rebuilds (see docs/bench_ingest.md)
                    wcfg = PlatformConfig(**{**cfg.__dict__, "client_id": f"{cfg.client_id}-{i}"})
                    procs.append(ctx.Process(target=_worker, args=(wcfg, i, ready, go, stop, counters, stats_q), daemon=True))
                    procs[-1].start()
                    if not ready.acquire(timeout=120):
                        raise SystemExit(f"worker {i} did not get ready")
            else:
                local = PlatformIngest(cfg)
                if profiler is not None:
                    inner = local.pipeline.process

                    def profiled(batch, _inner=inner):
                        profiler.enable()
                        try:
                            _inner(batch)
                        finally:
                            profiler.disable()

                    local.handle = profiled
                local.subscribe_and_leave()
            publish_all(target, msgs)
            time.sleep(0.5)
            n = len(msgs)
            cpu_before = _thread_cpu()

            def drain_platform() -> float:
                t0 = time.perf_counter()
                if procs:
                    go.set()
                    done = wait_until(lambda: sum(counters[:]) >= n, DRAIN_TIMEOUT_S, 0.002)
                else:
                    ing = local.start()
                    done = wait_until(lambda: ing.processed >= n, DRAIN_TIMEOUT_S, 0.002)
                took = time.perf_counter() - t0
                if not done:
                    raise SystemExit(f"platform handled {sum(counters[:]) if procs else local.ingest.processed} of {n}")
                return took

            pids = [os.getpid()] + [p.pid for p in procs]

            def measured(drain) -> tuple[float, dict[str, float]]:  # noqa: ANN001
                before = _cpu_by_part(pids)
                took = drain()
                after = _cpu_by_part(pids)
                return took, {k: after[k] - before[k] for k in after}

            if index % 2 == 0:
                bare_s, bare_cpu = measured(lambda: bare.drain(n))
                platform_s, platform_cpu = measured(drain_platform)
            else:
                platform_s, platform_cpu = measured(drain_platform)
                bare_s, bare_cpu = measured(lambda: bare.drain(n))
            cpu_after = _thread_cpu()
            cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after if cpu_after[k] - cpu_before.get(k, 0.0) > 0.05}
            if procs:
                stop.set()
                stats = [stats_q.get(timeout=60) for _ in procs]
                for p in procs:
                    p.join(30)
                rejected = sum(s["rejected"] for s in stats)
                from parking_core.live import open_live_state

                live = open_live_state(REDIS_URL, prefix=redis_prefix)
                mismatched = live_mismatches(exp.live, live, [lot.id for lot in lots])
            else:
                rejected = local.pipeline.stats.rejected
                live = local.live
                mismatched = live_mismatches(exp.live, live, [lot.id for lot in lots])
            rows = count_rows(url)
            if args.redis:
                live.clear()
            if local:
                local.close()
            else:
                live.close()
    finally:
        if args.redis:  # also after a failed run: leave no keys behind
            _forget_redis(redis_prefix)
    return RunResult(bare_s, platform_s, n, rows, exp.unique_accepted, len(mismatched), rejected, exp.rejected, cpu,
                     {"bare": bare_cpu, "platform": platform_cpu})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Drain rate of the platform's MQTT ingest against a bare subscriber.")
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="ingest processes sharing $share/parking/... (needs --redis)")
    ap.add_argument("--redis", action="store_true", help="live state in Redis (127.0.0.1:6379) instead of in-process")
    ap.add_argument("--pg", action="store_true", help="event log in PostgreSQL (127.0.0.1:5432) instead of SQLite")
    ap.add_argument("--batch", type=int, default=500, help="PARKING_INGEST_BATCH")
    ap.add_argument("--flush-ms", type=float, default=0.0, help="PARKING_INGEST_FLUSH_MS (the platform's default: 0)")
    ap.add_argument("--bad-fraction", type=float, default=0.0)
    ap.add_argument("--profile", action="store_true", help="cProfile the pipeline (single in-process worker) and print the top")
    ap.add_argument("--json", type=Path, help="also write the medians to this file (bench_workers reads it)")
    args = ap.parse_args(argv)
    if args.workers > 1 and not args.redis:
        ap.error("--workers > 1 needs --redis: separate processes can only share live state in Redis")
    if args.workers > 1 and args.profile:
        ap.error("--profile profiles the in-process worker; use --workers 1")

    from parking_core.registry import parse_registry
    from sensors.simulator import city_summary, generate_city

    city = generate_city(args.lots, seed=args.seed)
    lots = parse_registry(city)
    messages = backlog(city, args.messages, seed=args.seed, bad_fraction=args.bad_fraction)
    topics = Topics(SIM_PREFIX)
    kinds = Counter(getattr(topics.parse(t), "kind", "malformed") for t, _ in messages)
    s = city_summary(city)
    console.print(
        f"[bold]bench_ingest[/]: {len(messages):,} messages {kinds} from a city of {s['lots']:,} lots "
        f"({s['sensor_berths']:,} sensor berths); live state {'Redis' if args.redis else 'in-process'}, "
        f"event log {'PostgreSQL' if args.pg else 'SQLite'}, {args.workers} worker(s), batch {args.batch}"
    )
    profiler = cProfile.Profile() if args.profile else None
    results: list[RunResult] = []
    with private_mosquitto() as target, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for i in range(args.runs):
            r = run_once(args, target, city, lots, messages, Path(tmp), i, profiler)
            results.append(r)
            console.print(
                f"run {i + 1}: bare {r.messages / r.bare_s:,.0f}/s, platform {r.messages / r.platform_s:,.0f}/s, "
                f"rows {r.rows:,}/{r.unique:,}, live mismatches {r.mismatched_lots}, rejected {r.rejected}/{r.expected_rejected} "
                f"{'[green]no loss[/]' if r.ok else '[red]LOSS OR INCONSISTENCY[/]'}"
            )
            if r.cpu:
                console.print("  CPU s by thread: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.cpu.items(), key=lambda x: -x[1])))
    rows = [
        (f"run {i + 1}", r.messages / r.bare_s, r.messages / r.platform_s, r.messages / r.platform_s / (r.messages / r.bare_s), "yes" if r.ok else "NO")
        for i, r in enumerate(results)
    ]
    bare_med = median([r.messages / r.bare_s for r in results])
    plat_med = median([r.messages / r.platform_s for r in results])
    rows.append(("median", bare_med, plat_med, plat_med / bare_med, "yes" if all(r.ok for r in results) else "NO"))
    table("drain rate, events/s", ["", "bare subscriber", "platform ingest", "platform/bare", "zero loss"], rows)
    parts = list(results[0].machine_cpu["bare"])
    per_k = {side: {k: median([r.machine_cpu[side][k] / r.messages * 1e6 for r in results]) for k in parts} for side in ("bare", "platform")}
    cpu_rows = [(k, per_k["bare"][k], per_k["platform"][k]) for k in parts]
    cpu_rows.append(("all", sum(per_k["bare"].values()), sum(per_k["platform"].values())))
    table("machine CPU per message during each drain, µs (median of runs): what one message costs every process",
          ["part", "bare subscriber", "platform ingest"], cpu_rows)
    cores = os.cpu_count() or 1
    ceiling = cores / sum(per_k["platform"].values()) * 1e6
    console.print(f"with all {cores} cores busy the platform could drain at most {ceiling:,.0f} messages/s here, beside the bare "
                  f"subscriber's measured {bare_med:,.0f}/s: {'ratio >= 1.0 is within reach' if ceiling >= bare_med else 'ratio >= 1.0 cannot be reached on this machine whatever the number of workers'}")
    if args.json:
        args.json.write_text(json.dumps({"workers": args.workers, "bare_per_s": bare_med, "platform_per_s": plat_med,
                                         "ratio": plat_med / bare_med, "zero_loss": all(r.ok for r in results),
                                         "cpu_us_per_message": per_k}))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        console.print(out.getvalue())


if __name__ == "__main__":
    main()
