"""Redis keys laid out for Redis Cluster (issue 13): a car park's keys share its hash tag, and data
written by the earlier layout is rebuilt, never misread."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from redis.crc import key_slot

from parking_core.events import BerthReported
from parking_core.live import LiveStateLost
from parking_core.live.redis import RedisLiveState
from tests.conftest import small_city

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
NOW = (T0 + timedelta(hours=1)).timestamp()


@pytest.fixture
def live(redis_url, redis_prefix):
    state = RedisLiveState.from_url(redis_url, prefix=redis_prefix)
    yield state
    state.close()


def test_every_key_of_a_car_park_is_in_its_slot(live, redis_prefix):
    live.configure(small_city())
    live.apply([BerthReported(lot_id="S1", berth_id="b1", occupied=False, seq=1, ts=T0)], settle_s=30, now=NOW)
    live.apply([BerthReported(lot_id="S1", berth_id="b1", occupied=True, seq=2, ts=T0)], settle_s=30, now=NOW)  # pending: due zset
    shared = {f"{redis_prefix}{k}" for k in ("lots", "sensor-lots", "ready")}  # read and written by Python only
    keys = [k for k in live.r.scan_iter(match=f"{redis_prefix}*") if k not in shared]
    by_lot: dict[str, set[int]] = {}
    for k in keys:
        lot = k[k.index("{") + 1:k.index("}")]
        by_lot.setdefault(lot, set()).add(key_slot(k.encode()))
    assert set(by_lot) == {"S1", "G1", "C1"}
    assert all(len(slots) == 1 for slots in by_lot.values()), by_lot
    assert {k.split(":")[-2] for k in keys if "{S1}" in k} >= {"lot", "lb", "due", "seen"}


def test_braces_in_a_lot_id_cannot_split_its_keys(live):
    odd = live.keys_of("}odd{id%")
    assert len({key_slot(k.encode()) for k in odd.quad}) == 1
    assert odd.tagged == "{%7Dodd%7Bid%25}"


def test_data_of_the_earlier_layout_is_rebuilt_not_misread(live, redis_prefix):
    """What the previous version wrote: untagged lot hashes, a global `seen`, and `ready` = 1."""
    r, p = live.r, redis_prefix
    r.hset(f"{p}lot:S1", mapping={"free": 3, "total": 4, "known": 4, "upd": 1, "seen": NOW, "nb": 4, "sensors": 1})
    r.hset(f"{p}lb:S1", mapping={b: "F|1.000|7|0||0|0" for b in ("b1", "b2", "b3", "b4")})
    r.zadd(f"{p}seen", {"S1\x1fb1": NOW})
    r.sadd(f"{p}lots", "S1")
    r.set(f"{p}ready", 1)
    assert not live.is_configured()  # the pipeline rebuilds on this
    assert live.lot("S1") is None  # nothing of the old layout is read as live state
    with pytest.raises(LiveStateLost):
        live.apply([BerthReported(lot_id="S1", berth_id="b1", occupied=True, seq=8, ts=T0)], settle_s=0, now=NOW)
    with pytest.raises(LiveStateLost):
        live.sweep_silent(NOW)
    with live.rebuild_lock():  # what IngestPipeline.rebuild does
        live.clear()
        live.configure(small_city(), ready=False)
        live.mark_ready()
    assert live.is_configured()
    assert not r.exists(f"{p}lot:S1", f"{p}lb:S1", f"{p}seen")
    s1 = live.lot("S1")
    assert (s1.free, s1.known_berths) == (0, 0)  # unknown until the log is replayed or devices report
