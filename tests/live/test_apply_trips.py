"""A large batch reaches Redis in pieces (APPLY_TRIP events a round trip), so an API read waits behind
one piece of a drain, never behind a whole batch; the pieces change nothing about the outcome:
every event gets the outcome the in-process store gives it, duplicates across pieces included."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import redis

from parking_core.events import BerthReported, CountsReported, PassageReported
from parking_core.live import redis as live_redis
from parking_core.live.memory import MemoryLiveState
from parking_core.lots import LotInfo

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
NOW = (T0 + timedelta(hours=1)).timestamp()


def city() -> list[LotInfo]:
    streets = [LotInfo(id=f"S{i:02d}", name=f"street {i}", kind="on_street", operator="op1", district="gusu",
                       lat=31.3 + i / 1000, lon=120.6, total=4, berths=("b1", "b2", "b3", "b4")) for i in range(30)]
    return streets + [LotInfo(id="G1", name="gated", kind="off_street", operator="op2", district="gusu", lat=31.2, lon=120.5, total=50),
                      LotInfo(id="C1", name="counted", kind="off_street", operator="op2", district="sip", lat=31.1, lon=120.4, total=90)]


def batch(n: int, seed: int) -> list:
    """Berth reports (some repeated: the repeat is a duplicate wherever it falls), passages (some twice), counts."""
    rnd, out = random.Random(seed), []
    for k in range(n):
        s = T0 + timedelta(seconds=k)
        pick = rnd.random()
        if pick < 0.15 and out:
            out.append(rnd.choice(out))  # a redelivery, possibly into another piece
        elif pick < 0.25:
            out.append(PassageReported(lot_id="G1", gate_id="g", event_id=f"e{rnd.randrange(40)}", direction=rnd.choice(["in", "out"]),
                                       plate="苏E12345", ts=s))
        elif pick < 0.3:
            out.append(CountsReported(lot_id="C1", free=rnd.randrange(91), total=90, ts=s))
        else:
            out.append(BerthReported(lot_id=f"S{rnd.randrange(30):02d}", berth_id=f"b{rnd.randrange(1, 5)}", occupied=rnd.random() < 0.5,
                                     seq=k, ts=s))
    return out


def script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))


@pytest.mark.parametrize("per_slot", [False, True], ids=["one-redis", "per-slot"])
def test_a_batch_larger_than_a_trip_goes_in_pieces_with_the_same_outcomes(redis_url, per_slot):
    events = batch(300, seed=7)
    memory = MemoryLiveState()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    red = live_redis.RedisLiveState(client, prefix=f"test:trips:{uuid.uuid4().hex[:8]}:", per_slot=per_slot)
    try:
        for live in (memory, red):
            live.configure(city())
        red.lots(["G1"])  # scripts loaded before counting
        before = script_calls(client)
        got = red.apply(events, settle_s=0, now=NOW)
        calls = script_calls(client) - before
        assert got == memory.apply(events, settle_s=0, now=NOW)
        ids = [lot.id for lot in city()]
        assert red.lots(ids) == memory.lots(ids)
        assert calls >= len(events) / live_redis.APPLY_TRIP  # no call carried more than a trip's events
    finally:
        red.clear()
        red.close()
