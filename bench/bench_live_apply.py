"""Live state in Redis alone: the ingest's `apply` of a simulated backlog and the ticker's settle and
sweep, on one Redis (127.0.0.1:6379, a key prefix of its own, deleted afterwards). Isolates what the
key layout and script calls cost from MQTT and the event log. Wall and CPU time, median of the runs.
The tick (settle + sweep over every lot of the city) is timed twice: with nothing to do, and with
`--due` berth changes coming due before each tick, as a city's background traffic keeps a handful due.
Run from the repository root:

    python -m bench.bench_live_apply [--messages 40000] [--runs 3] [--batch 500] [--due 20] [--per-slot]
"""
from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import datetime, timezone

import redis

from bench.common import REDIS_URL, SIM_PREFIX, backlog, console, median, table
from parking_core.events import BerthReported
from parking_core.registry import parse_registry
from sensors.messages import Rejection, parse_message
from sensors.simulator import generate_city


def _script_usec(client: redis.Redis) -> float:
    """Redis's own CPU time in scripts so far (INFO commandstats), shared with whoever else uses the server."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "eval"))


def _due_flips(live, lots, events, n: int, ticks: int, seed: int) -> list[list[tuple[str, str, bool, int]]]:
    """Per tick, n berths (lot, berth, occupied, seq) to flip: known ones, each flipped once."""
    reported = sorted({(e.lot_id, e.berth_id) for e in events if isinstance(e, BerthReported)})
    picked = random.Random(seed).sample(reported, min(len(reported), n * ticks))
    flips = []
    for lot_id, berth_id in picked:
        status = next(b.status for b in live.berths(lot_id) if b.id == berth_id)
        if status != "unknown":
            flips.append((lot_id, berth_id, status == "free", 10**9))
    return [flips[i * n:(i + 1) * n] for i in range(ticks)]


def one_run(lots, events, batch: int, per_slot: bool, due: int = 20, seed: int = 1) -> tuple[float, float, float, float, float]:
    """(events/s wall, events/s CPU of this process, Redis script µs per event, ms per idle tick, ms per tick with
    `due` changes to settle) for one fill of a fresh prefix."""
    from parking_core.live.redis import RedisLiveState

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    live = RedisLiveState(client, prefix=f"bench:apply:{uuid.uuid4().hex[:8]}:", per_slot=per_slot)
    try:
        live.configure(lots)
        now = datetime.now(timezone.utc).timestamp()
        w0, c0, s0 = time.perf_counter(), time.process_time(), _script_usec(client)
        for i in range(0, len(events), batch):
            live.apply(events[i:i + batch], settle_s=0, now=now)
        wall, cpu, server = time.perf_counter() - w0, time.process_time() - c0, _script_usec(client) - s0
        live.view_s = 0  # every tick rereads the lot set, as ticks a second apart do
        ticks, settle = 10, 30
        t0 = time.perf_counter()
        for _ in range(ticks):
            live.promote_due(now)
            live.sweep_silent(now - 900)
        tick_ms = (time.perf_counter() - t0) * 1000 / ticks
        spent, settled = 0.0, 0
        for i, flips in enumerate(_due_flips(live, lots, events, due, ticks, seed)):
            at = now + 60 + i  # each tick a second after the last; these changes were made settle + 1 s before it
            made = datetime.fromtimestamp(at - settle - 1, tz=timezone.utc)
            live.apply([BerthReported(lot_id=lot, berth_id=b, occupied=occ, seq=seq, ts=made) for lot, b, occ, seq in flips],
                       settle_s=settle, now=at - settle - 1)
            t0 = time.perf_counter()
            settled += len(live.promote_due(at))
            live.sweep_silent(at - 900)
            spent += time.perf_counter() - t0
        assert settled >= ticks, f"only {settled} lots settled"  # the flips did come due
        return len(events) / wall, len(events) / max(cpu, 1e-9), server / len(events), tick_ms, spent * 1000 / ticks
    finally:
        live.clear()
        client.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Redis live state: apply throughput and tick time.")
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--batch", type=int, default=500, help="events per apply (PARKING_INGEST_BATCH)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--due", type=int, default=20, help="berth changes that come due before each timed tick")
    ap.add_argument("--per-slot", action="store_true", help="one script call per hash slot, as on Redis Cluster (one Redis needs none)")
    args = ap.parse_args(argv)
    city = generate_city(args.lots, seed=args.seed)
    lots = parse_registry(city)
    known = {lot.id: set(lot.berths) for lot in lots}
    events = []
    for topic, payload in backlog(city, args.messages, seed=args.seed):
        ev = parse_message(topic, payload, SIM_PREFIX)
        if not isinstance(ev, Rejection) and ev.lot_id in known and (getattr(ev, "berth_id", None) is None or ev.berth_id in known[ev.lot_id]):
            events.append(ev)
    console.print(f"[bold]bench_live_apply[/]: {len(events):,} events over {len(lots):,} lots, batches of {args.batch}, {args.runs} runs, "
                  f"{'a script call per hash slot' if args.per_slot else 'one script call a batch'}")
    rows, got = [], []
    for k in range(args.runs):
        r = one_run(lots, events, args.batch, args.per_slot, args.due, args.seed)
        got.append(r)
        rows.append((f"run {k + 1}", f"{r[0]:,.0f}", f"{r[1]:,.0f}", f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.1f}"))
    rows.append(("median", *(f"{median([g[j] for g in got]):,.{0 if j < 2 else 1}f}" for j in range(5))))
    table(f"Redis live state, {len(lots):,} lots", ["", "apply events/s (wall)", "events/s per CPU s (client)", "Redis script µs/event",
                                                   "tick ms (settle + sweep), nothing due", f"tick ms, {args.due} berths due"], rows)


if __name__ == "__main__":
    main()
