"""Memory of live state for a whole city: 3,300 car parks, 300,000 berths, every berth reported.

Redis (127.0.0.1:6379, a key prefix of its own, deleted afterwards): MEMORY USAGE summed
over the prefix's keys, and INFO used_memory before and after (other clients of the same
server move that figure too). The in-process backend: tracemalloc over the same work.
Run from the repository root:

    python -m bench.bench_live_memory [--lots 3300] [--berths 300000]
"""
from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone

from bench.common import REDIS_URL, console, table
from parking_core.events import BerthReported, PassageReported
from parking_core.lots import LotInfo, SharedHours
from parking_core.registry import parse_registry
from sensors.simulator import generate_city

TARGET_MB = 200
BATCH = 5_000
MB = 1024 * 1024


def city_with_berths(n_lots: int, n_berths: int, seed: int) -> list[LotInfo]:
    """The simulated city with a sensor on every space, scaled to exactly `n_berths` berths."""
    lots = parse_registry(generate_city(n_lots, seed=seed))
    spaces = sum(lot.total for lot in lots)
    out, left = [], n_berths
    for i, lot in enumerate(lots):
        n = left if i == len(lots) - 1 else max(1, min(left - (len(lots) - 1 - i), round(lot.total * n_berths / spaces)))
        left -= n
        berths = tuple(f"B{k:04d}" for k in range(1, n + 1))
        hours = SharedHours.parse(str(lot.shared_hours)) if lot.shared_hours else None
        out.append(LotInfo(
            id=lot.id, name=lot.name, kind=lot.kind, operator=lot.operator, district=lot.district, lat=lot.lat, lon=lot.lon,
            total=n, berths=berths, tariff=lot.tariff, shared_hours=hours,
        ))
    return out


def events_for(lots: list[LotInfo], seed: int) -> list:
    """A state for every berth, and a day's passages (ids remembered for de-duplication) for gated lots."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    evs: list = []
    for lot in lots:
        for b in lot.berths:
            evs.append(BerthReported(lot_id=lot.id, berth_id=b, occupied=rng.random() < 0.6, seq=1, ts=now - timedelta(seconds=rng.randrange(3600))))
        if lot.kind == "off_street":
            for k in range(2 * lot.total):
                evs.append(PassageReported(lot_id=lot.id, gate_id="G1", event_id=f"G1-{k:06d}", direction="in" if k % 2 == 0 else "out", plate="苏E12345", ts=now - timedelta(seconds=600)))
    return evs


def fill(live, lots, evs) -> float:
    t0 = time.perf_counter()
    live.configure(lots)
    now = datetime.now(timezone.utc).timestamp()
    for i in range(0, len(evs), BATCH):
        live.apply(evs[i:i + BATCH], settle_s=0, now=now)
    return time.perf_counter() - t0


def redis_figures(lots, evs) -> dict:
    import redis

    from parking_core.live.redis import RedisLiveState

    prefix = f"bench:mem:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=60)
    live = RedisLiveState(client, prefix=prefix)
    try:
        before = int(client.info("memory")["used_memory"])
        took = fill(live, lots, evs)
        after = int(client.info("memory")["used_memory"])
        keys = list(client.scan_iter(match=f"{prefix}*", count=5_000))
        total, biggest = 0, []
        for i in range(0, len(keys), 1_000):
            pipe = client.pipeline(transaction=False)
            chunk = keys[i:i + 1_000]
            for k in chunk:
                pipe.memory_usage(k, samples=0)
            for k, v in zip(chunk, pipe.execute()):
                total += v or 0
                biggest.append((v or 0, k))
        biggest.sort(reverse=True)
        by_kind: dict[str, int] = {}
        for v, k in biggest:
            kind = k[len(prefix):].split(":", 1)[0]
            by_kind[kind] = by_kind.get(kind, 0) + v
        return {"keys": len(keys), "memory_usage": total, "used_before": before, "used_after": after, "seconds": took, "by_kind": by_kind}
    finally:
        live.clear()
        live.close()


def memory_figures(lots, evs) -> dict:
    from parking_core.live.memory import MemoryLiveState

    gc.collect()
    tracemalloc.start()
    live = MemoryLiveState()
    took = fill(live, lots, evs)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert live.lot(lots[0].id) is not None
    return {"current": current, "peak": peak, "seconds": took}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Memory of live state for a whole city.")
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--berths", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-redis", action="store_true")
    args = ap.parse_args(argv)
    lots = city_with_berths(args.lots, args.berths, args.seed)
    evs = events_for(lots, args.seed)
    n_b = sum(len(lot.berths) for lot in lots)
    n_p = len(evs) - n_b
    console.print(f"[bold]bench_live_memory[/]: {len(lots):,} car parks, {n_b:,} berths all reported, {n_p:,} passages remembered")
    rows = []
    if not args.skip_redis:
        r = redis_figures(lots, evs)
        rows.append(("Redis: MEMORY USAGE over the prefix's keys", r["memory_usage"] / MB, r["keys"], r["seconds"]))
        rows.append(("Redis: INFO used_memory after - before", (r["used_after"] - r["used_before"]) / MB, "", ""))
        for kind, v in sorted(r["by_kind"].items(), key=lambda x: -x[1]):
            rows.append((f"  keys {kind}*", v / MB, "", ""))
    m = memory_figures(lots, evs)
    rows.append(("in-process: tracemalloc, held after filling", m["current"] / MB, "", m["seconds"]))
    rows.append(("in-process: tracemalloc, peak while filling", m["peak"] / MB, "", ""))
    table(f"live state memory, MB (target <= {TARGET_MB} MB)", ["what", "MB", "keys", "fill s"], rows)


if __name__ == "__main__":
    main()
