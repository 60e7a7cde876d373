"""Memory and Redis keep the same live state under any mix of reports, silences and ticks,
including what honest availability reads: known berths, sensor berths, and whether a lot without
sensors has been counted (a heartbeat alone never makes it known)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parking_core.events import BerthReported, CountsReported, HeartbeatReported, PassageReported
from parking_core.live.memory import MemoryLiveState
from tests.conftest import small_city

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
NOW = (T0 + timedelta(hours=2)).timestamp()
BERTHS = ("b1", "b2", "b3", "b4")

berth = st.builds(lambda b, occ, seq, s: BerthReported(lot_id="S1", berth_id=b, occupied=occ, seq=seq, ts=T0 + timedelta(seconds=s)),
                  st.sampled_from(BERTHS), st.booleans(), st.integers(0, 6), st.integers(0, 3600))
beat = st.builds(lambda lot, dev, s: HeartbeatReported(lot_id=lot, device_id=dev, ts=T0 + timedelta(seconds=s)),
                 st.sampled_from(["S1", "G1", "C1"]), st.sampled_from(["b1", "b3", "cam"]), st.integers(0, 3600))
passage = st.builds(lambda eid, d, s: PassageReported(lot_id="G1", gate_id="g", event_id=f"e{eid}", direction=d, plate="苏E12345",
                                                      ts=T0 + timedelta(seconds=s)),
                    st.integers(0, 8), st.sampled_from(["in", "out"]), st.integers(0, 3600))
counts = st.builds(lambda free, s: CountsReported(lot_id="C1", free=free, total=110, ts=T0 + timedelta(seconds=s)),
                   st.integers(0, 110), st.integers(0, 3600))
step = st.one_of(st.lists(st.one_of(berth, beat, passage, counts), min_size=1, max_size=6), st.integers(0, 3600))  # a batch, or a sweep at T0+s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_memory_and_redis_agree(redis_url, steps):
    from parking_core.live.redis import RedisLiveState

    memory = MemoryLiveState()
    red = RedisLiveState.from_url(redis_url, prefix=f"test:agree:{uuid.uuid4().hex[:8]}:")
    try:
        for live in (memory, red):
            live.configure(small_city())
        for s in steps:
            if isinstance(s, int):
                cutoff = (T0 + timedelta(seconds=s)).timestamp()
                assert memory.sweep_silent(cutoff) == red.sweep_silent(cutoff)
            else:
                assert memory.apply(s, settle_s=0, now=NOW) == red.apply(s, settle_s=0, now=NOW)
            ids = ["S1", "G1", "C1"]
            assert memory.lots(ids) == red.lots(ids)
    finally:
        red.clear()
        red.close()
