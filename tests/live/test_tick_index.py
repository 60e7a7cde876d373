"""The ticker's index (issue 13): a tick visits only the lots with a berth change due or a device gone
silent, not every lot of the city, and still settles and sweeps each lot when its time comes, once,
on both backends; the index survives a car park joining, a Redis restart and an older layout."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from parking_core.events import BerthReported, CountsReported, HeartbeatReported, PassageReported
from parking_core.live import LiveStateLost
from parking_core.live.memory import MemoryLiveState
from parking_core.lots import LotInfo
from tests.conftest import small_city

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
NOW = (T0 + timedelta(hours=2)).timestamp()
FILLERS = [LotInfo(id=f"F{i:03d}", name=f"Street {i}", kind="on_street", operator="op1", district="gusu", lat=31.3, lon=120.6 + i / 1000,
                   total=2, berths=("x1", "x2")) for i in range(200)]


def at(sec: float) -> float:
    return (T0 + timedelta(seconds=sec)).timestamp()


def berth(lot, b, occ, seq, sec=0):
    return BerthReported(lot_id=lot, berth_id=b, occupied=occ, seq=seq, ts=T0 + timedelta(seconds=sec))


def _redis_state(request, prefix: str):
    from parking_core.live.redis import RedisLiveState

    if request.param == "redis":
        return RedisLiveState.from_url(request.getfixturevalue("redis_url"), prefix=prefix)
    from redis.cluster import RedisCluster  # every script call's keys in one slot, or the cluster refuses it

    return RedisLiveState(RedisCluster(host="127.0.0.1", port=request.getfixturevalue("redis_cluster_port"), decode_responses=True), prefix=prefix)


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def live(request):
    """Small city plus 200 sensor streets, each heard from, so a tick that visited every lot would show."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    state = MemoryLiveState() if request.param == "memory" else _redis_state(request, prefix)
    state.configure(small_city() + FILLERS)
    state.apply([berth(f.id, "x1", False, 1, 1000) for f in FILLERS], settle_s=0, now=NOW)
    yield state
    if request.param != "memory":
        state.clear()
    state.close()


def visited(live, expected: set[str]) -> bool:
    """What the last tick looked at, where the backend counts it (Redis); memory's heaps visit no lot."""
    return getattr(live, "last_visited", expected) == expected


def test_a_change_due_far_ahead_is_not_visited_until_it_is_due(live):
    live.apply([berth("S1", "b1", False, 1)], settle_s=0, now=NOW)
    assert live.apply([berth("S1", "b1", True, 2, 10)], settle_s=3600, now=at(10))[0][0].value == "pending"  # due at T0+3610
    for sec in (60, 3000, 3609):
        assert live.promote_due(at(sec)) == set()
        assert visited(live, set())  # not S1, nor any of the 200 streets
    assert live.sweep_silent(at(0)) == set() and visited(live, set())  # everything heard at or after the cutoff
    assert live.lot("S1").free == 1  # still waiting
    assert live.promote_due(at(3610)) == {"S1"}
    assert visited(live, {"S1"})
    assert live.lot("S1").free == 0
    assert {b.id: b.status for b in live.berths("S1")}["b1"] == "occupied"
    assert live.promote_due(at(7200)) == set() and visited(live, set())  # settled: out of the index


def test_a_superseded_change_is_looked_at_once_and_settles_nothing(live):
    """A pending change undone before it was due leaves its lot in the index (earliest wins): one visit, no change."""
    live.apply([berth("S1", "b1", False, 1)], settle_s=0, now=NOW)
    live.apply([berth("S1", "b1", True, 2, 10), berth("S1", "b1", False, 3, 20)], settle_s=30, now=at(20))
    assert live.promote_due(at(40)) == set()
    assert visited(live, {"S1"})
    assert live.promote_due(at(41)) == set() and visited(live, set())
    assert live.lot("S1").free == 1


def test_a_lot_whose_devices_go_silent_is_swept_exactly_once(live):
    live.apply([
        berth("S1", "b1", False, 1), berth("S1", "b2", True, 1), berth("S1", "b3", False, 1, 100),
        CountsReported(lot_id="C1", free=40, total=110, ts=T0),
        PassageReported(lot_id="G1", gate_id="g1", event_id="e1", direction="in", plate="苏E12345", ts=T0),
    ], settle_s=0, now=NOW)
    assert live.sweep_silent(at(50)) == {"S1", "C1", "G1"}
    assert visited(live, {"S1", "C1", "G1"})
    assert {b.id: b.status for b in live.berths("S1")} == {"b1": "unknown", "b2": "unknown", "b3": "free", "b4": "unknown"}
    assert not live.lot("C1").known and not live.lot("G1").known
    assert live.sweep_silent(at(60)) == set() and visited(live, set())  # once: C1 and G1 left the index, S1 waits for b3
    assert live.sweep_silent(at(101)) == {"S1"} and visited(live, {"S1"})
    assert live.sweep_silent(at(500)) == set() and visited(live, set())
    # heard again: back in the index, and swept once more when silent again
    live.apply([HeartbeatReported(lot_id="S1", device_id="b1", ts=T0 + timedelta(seconds=600)),
                HeartbeatReported(lot_id="C1", device_id="cam", ts=T0 + timedelta(seconds=600))], settle_s=0, now=NOW)
    assert live.lot("S1").free == 1 and live.lot("C1").known  # b1 counted again (b3 still silent)
    assert live.sweep_silent(at(601)) == {"S1", "C1"} and visited(live, {"S1", "C1"})
    assert live.sweep_silent(at(999)) == set() and visited(live, set())
    assert live.lot("S1").free == 0 and not live.lot("C1").known
    assert live.sweep_silent(at(1001)) == {f.id for f in FILLERS}  # the streets, heard at T0+1000, in their turn


def test_each_berth_of_a_lot_is_swept_at_its_own_time_whatever_order_reports_arrive_in(live):
    """A lot's time in the index is its earliest berth's: a later report never pushes it back, a late one
    made earlier brings it forward."""
    live.apply([berth("S1", "b1", False, 1, 100)], settle_s=0, now=NOW)
    live.apply([berth("S1", "b2", False, 1, 500)], settle_s=0, now=NOW)
    live.apply([berth("S1", "b3", False, 1, 50)], settle_s=0, now=NOW)  # arrives last, made first
    for sec, silent in ((51, "b3"), (101, "b1"), (501, "b2")):
        assert live.sweep_silent(at(sec)) == {"S1"}
        assert {b.id: b.status for b in live.berths("S1")}[silent] == "unknown"
        assert live.sweep_silent(at(sec)) == set()


def test_each_change_of_a_lot_settles_at_its_own_time(live):
    live.apply([berth("S1", "b1", False, 1), berth("S1", "b2", False, 1)], settle_s=0, now=NOW)
    live.apply([berth("S1", "b1", True, 2, 10)], settle_s=30, now=at(10))  # due at 40
    live.apply([berth("S1", "b2", True, 2, 70)], settle_s=30, now=at(70))  # due at 100
    assert live.promote_due(at(40)) == {"S1"} and live.lot("S1").free == 1
    assert live.promote_due(at(99)) == set() and visited(live, set())
    assert live.promote_due(at(100)) == {"S1"} and live.lot("S1").free == 0


@pytest.fixture(params=["redis", "redis-cluster"])
def workers(request):
    """Three workers on one store, as `--workers` runs them: make(n) gives n, torn down after the test."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    made = []

    def make(n: int):
        made.extend(_redis_state(request, prefix) for _ in range(n))
        return made[-n:]

    make.prefix, make.cluster = prefix, request.param == "redis-cluster"
    yield make
    made[0].clear()
    for w in made:
        w.close()


def _newcomer(near: str, cluster: bool) -> LotInfo:
    """A car park joining with an id smaller than any, in the group of `near` (on a cluster: its hash slot)."""
    slot = key_slot(f"{{{near}}}".encode())
    lot_id = next(f"A{n}" for n in range(10**6) if not cluster or key_slot(f"{{A{n}}}".encode()) == slot)
    return LotInfo(id=lot_id, name="New", kind="on_street", operator="op1", district="gusu", lat=31.3, lon=120.6, total=1, berths=("n1",))


def test_a_car_park_joining_ahead_of_the_index_takes_the_waiting_changes_along(workers):
    """The index keys are named after the group's smallest lot id; a newcomer with a smaller id moves them.
    Worker b adds it and moves what waits in the old index at once, so a worker started afterwards (c), which
    never knew the old index, settles it."""
    a, b, c = workers(3)
    a.configure(small_city())
    a.apply([berth("S1", "b1", False, 1)], settle_s=0, now=NOW)
    a.apply([berth("S1", "b1", True, 2, 10)], settle_s=30, now=at(10))  # due at 40
    city = small_city() + [_newcomer("S1", workers.cluster)]
    b.configure(city)
    c.configure(city)
    assert c.promote_due(at(40)) == {"S1"}
    assert {x.id: x.status for x in c.berths("S1")}["b1"] == "occupied"


def test_a_worker_that_has_not_noticed_the_move_yet_loses_nothing(workers):
    """Worker a, slow to notice (view_s), keeps writing the old index: b reads it along for retire_s, then
    folds it into the new one and drops it, so a worker that never knew it (c) still sweeps on time."""
    a, b, c = workers(3)
    a.configure(small_city())
    a.view_s = 3600
    newcomer = _newcomer("G1", workers.cluster)
    old_head = "G1" if workers.cluster else "C1"
    b.configure(small_city() + [newcomer])
    b.view_s = 0
    gate = lambda eid, sec: PassageReported(lot_id="G1", gate_id="g1", event_id=eid, direction="in", plate="苏E12345",  # noqa: E731
                                            ts=T0 + timedelta(seconds=sec))
    a.apply([gate("e1", 0)], settle_s=0, now=NOW)  # G1 counted: silent after T0, written to the old index alone
    assert b.sweep_silent(at(50)) == {"G1"}
    a.apply([gate("e2", 100)], settle_s=0, now=NOW)  # heard again: the old index once more
    b.retire_s = 0  # the grace period ends at b's next look
    assert b.sweep_silent(at(60)) == set()
    assert not b.r.exists(f"{workers.prefix}due-lots:{{{old_head}}}", f"{workers.prefix}seen-lots:{{{old_head}}}")
    c.configure(small_city() + [newcomer])
    assert c.sweep_silent(at(101)) == {"G1"}
    assert not c.lot("G1").known


def test_data_of_the_layout_without_an_index_is_rebuilt_not_misread(redis_url, redis_prefix):
    """Layout 2 kept no index: its due/seen sets would never be visited, so its data is rebuilt."""
    from parking_core.live.redis import RedisLiveState

    live = RedisLiveState.from_url(redis_url, prefix=redis_prefix)
    try:
        live.configure(small_city())
        r = live.r
        for key in r.scan_iter(match=f"{redis_prefix}lot:*"):
            r.hset(key, "rdy", "2")
        r.set(f"{redis_prefix}ready", "2")
        assert not live.is_configured()
        with pytest.raises(LiveStateLost):
            live.apply([berth("S1", "b1", False, 1)], settle_s=0, now=NOW)
        with pytest.raises(LiveStateLost):
            live.promote_due(NOW)
        with pytest.raises(LiveStateLost):
            live.sweep_silent(NOW)
    finally:
        live.close()


def test_after_redis_restarts_empty_the_live_state_and_its_index_are_rebuilt(tmp_path, own_redis):
    from gateways.bootstrap import Platform
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings
    from tests.factories import FrozenClock, berth_msg, city_registry, counts_msg, heartbeat_msg, passage_msg

    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", REDIS_URL=own_redis.url, PARKING_REDIS_PREFIX="t:")
    clock = FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    p = Platform(settings, clock=clock, with_ingest=False, publish_sink=lambda *_: None)
    try:
        upgrade(p.engine)
        import_registry(p, city_registry())
        p.start()
        t = clock()
        p.pipeline.process([berth_msg("S1", "b1", False, 1, t), berth_msg("S1", "b2", True, 1, t), counts_msg("C1", 40, 110, t),
                            passage_msg("G1", "g1", "e1", "in", "苏E12345", t)])
        clock.advance(seconds=300)
        p.pipeline.process([heartbeat_msg("S1", "b2", clock())])
        ids = ["S1", "G1", "C1"]
        before = (p.live.lots(ids), p.live.berths("S1"))
        own_redis.stop()
        own_redis.start()  # empty
        p.pipeline.tick(heartbeat_timeout_s=600)  # notices, rebuilds from the log
        assert p.live.is_configured()
        assert (p.live.lots(ids), p.live.berths("S1")) == before
        clock.advance(seconds=301)  # T+601: b1, C1 and G1 silent for 600 s; b2 heard at T+300
        p.pipeline.tick(heartbeat_timeout_s=600)
        assert p.live.last_visited == {"S1", "C1", "G1"}  # the rebuilt index knew them
        assert {b.id: b.status for b in p.live.berths("S1")} == {"b1": "unknown", "b2": "occupied", "b3": "unknown", "b4": "unknown"}
        assert not p.live.lot("C1").known and not p.live.lot("G1").known
        clock.advance(seconds=300)
        p.pipeline.tick(heartbeat_timeout_s=600)
        assert {b.id: b.status for b in p.live.berths("S1")}["b2"] == "unknown"
    finally:
        p.stop()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(
    st.lists(st.one_of(
        st.builds(lambda b, occ, seq, s: berth("S1", b, occ, seq, s), st.sampled_from(["b1", "b2", "b3"]), st.booleans(), st.integers(0, 8),
                  st.integers(0, 600)),
        st.builds(lambda dev, s: HeartbeatReported(lot_id=dev[0], device_id=dev[1], ts=T0 + timedelta(seconds=s)),
                  st.sampled_from([("S1", "b1"), ("S1", "b2"), ("C1", "cam")]), st.integers(0, 600)),
        st.builds(lambda free, s: CountsReported(lot_id="C1", free=free, total=110, ts=T0 + timedelta(seconds=s)), st.integers(0, 110),
                  st.integers(0, 600)),
    ), min_size=1, max_size=5),
    st.tuples(st.sampled_from(["due", "sweep"]), st.integers(0, 700)),
), min_size=1, max_size=10))
def test_memory_and_redis_settle_and_sweep_alike_in_any_order_of_ticks(redis_url, steps):
    """Debounced changes and silences, ticks at any time (not only forward): both backends agree on what changed."""
    from parking_core.live.redis import RedisLiveState

    memory = MemoryLiveState()
    red = RedisLiveState.from_url(redis_url, prefix=f"test:tick:{uuid.uuid4().hex[:8]}:")
    try:
        for live in (memory, red):
            live.configure(small_city())
        for s in steps:
            if isinstance(s, tuple):
                mode, sec = s
                tick = "promote_due" if mode == "due" else "sweep_silent"
                assert getattr(memory, tick)(at(sec)) == getattr(red, tick)(at(sec)), s
            else:
                assert memory.apply(s, settle_s=30, now=at(600)) == red.apply(s, settle_s=30, now=at(600))
            ids = ["S1", "G1", "C1"]
            assert memory.lots(ids) == red.lots(ids)
            assert memory.berths("S1") == red.berths("S1")
    finally:
        red.clear()
        red.close()
