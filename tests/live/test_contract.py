"""Both live-state backends keep the same rules (contract section 2)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from parking_core.events import BerthReported, CountsReported, HeartbeatReported, PassageReported
from parking_core.live import Outcome
from parking_core.live.memory import MemoryLiveState
from tests.conftest import small_city

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def live(request):
    from parking_core.live.redis import RedisLiveState

    if request.param == "memory":
        state = MemoryLiveState()
    elif request.param == "redis":
        state = RedisLiveState.from_url(request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_prefix"))
    else:  # every script call's keys in one slot, or the cluster refuses it
        from redis.cluster import RedisCluster

        client = RedisCluster(host="127.0.0.1", port=request.getfixturevalue("redis_cluster_port"), decode_responses=True)
        state = RedisLiveState(client, prefix=f"test:{uuid.uuid4().hex[:10]}:")
    state.configure(small_city())
    yield state
    state.close()


def berth(b, occ, seq, sec=0, lot="S1"):
    return BerthReported(lot_id=lot, berth_id=b, occupied=occ, seq=seq, ts=T0 + timedelta(seconds=sec))


def passage(eid, direction, sec=0, lot="G1"):
    return PassageReported(lot_id=lot, gate_id="g1", event_id=eid, direction=direction, plate="苏E12345", ts=T0 + timedelta(seconds=sec))


NOW = (T0 + timedelta(hours=1)).timestamp()


def test_berths_start_unknown_and_count_free_once_reported(live):
    assert live.lot("S1").known is False and live.lot("S1").free == 0
    res = live.apply([berth("b1", False, 1), berth("b2", True, 1)], settle_s=0, now=NOW)
    assert res == [(Outcome.APPLIED, True), (Outcome.APPLIED, True)]
    lot = live.lot("S1")
    assert (lot.free, lot.total, lot.known) == (1, 4, True)
    assert {b.id: b.status for b in live.berths("S1")} == {"b1": "free", "b2": "occupied", "b3": "unknown", "b4": "unknown"}
    assert live.berths("S1")[0].since == T0


def test_seq_not_increasing_is_a_duplicate_and_changes_nothing(live):
    live.apply([berth("b1", False, 5)], settle_s=0, now=NOW)
    res = live.apply([berth("b1", True, 5), berth("b1", True, 4)], settle_s=0, now=NOW)
    assert res == [(Outcome.DUPLICATE, False), (Outcome.DUPLICATE, False)]
    assert live.lot("S1").free == 1


def test_same_state_again_is_unchanged(live):
    live.apply([berth("b1", False, 1)], settle_s=0, now=NOW)
    assert live.apply([berth("b1", False, 2, 10)], settle_s=0, now=NOW) == [(Outcome.UNCHANGED, False)]


def test_flapping_berth_settles_only_after_settle_time(live):
    live.apply([berth("b1", False, 1)], settle_s=0, now=NOW)
    # a car manoeuvres: occupied, free, occupied within seconds
    res = live.apply([berth("b1", True, 2, 10), berth("b1", False, 3, 12), berth("b1", True, 4, 15)], settle_s=30, now=(T0 + timedelta(seconds=16)).timestamp())
    assert [o for o, _ in res] == [Outcome.PENDING, Outcome.UNCHANGED, Outcome.PENDING]
    assert live.lot("S1").free == 1
    assert live.promote_due((T0 + timedelta(seconds=40)).timestamp()) == set()
    assert live.promote_due((T0 + timedelta(seconds=46)).timestamp()) == {"S1"}
    assert live.lot("S1").free == 0
    assert live.berths("S1")[0].since == T0 + timedelta(seconds=15)


def test_a_later_report_settles_the_pending_change_by_event_time(live):
    live.apply([berth("b1", False, 1)], settle_s=0, now=NOW)
    live.apply([berth("b1", True, 2, 10)], settle_s=30, now=NOW)
    res = live.apply([berth("b1", True, 3, 50)], settle_s=30, now=NOW)
    assert res == [(Outcome.APPLIED, True)]
    assert live.lot("S1").free == 0


def test_silent_berth_becomes_unknown_and_returns_on_heartbeat(live):
    live.apply([berth("b1", False, 1), berth("b2", False, 1, 100)], settle_s=0, now=NOW)
    assert live.lot("S1").free == 2
    changed = live.sweep_silent((T0 + timedelta(seconds=50)).timestamp())
    assert changed == {"S1"}
    assert live.lot("S1").free == 1
    assert {b.id: b.status for b in live.berths("S1")}["b1"] == "unknown"
    hb = HeartbeatReported(lot_id="S1", device_id="b1", ts=T0 + timedelta(seconds=200))
    assert live.apply([hb], settle_s=0, now=NOW) == [(Outcome.APPLIED, True)]
    assert live.lot("S1").free == 2


def test_passages_drive_free_count_and_never_below_zero(live):
    res = live.apply([passage(f"e{i}", "in", i) for i in range(5)], settle_s=0, now=NOW)
    assert all(o is Outcome.APPLIED for o, _ in res)
    assert live.lot("G1").free == 0  # 5 in, total 3: never below 0
    live.apply([passage("x1", "out", 10)], settle_s=0, now=NOW)
    assert live.lot("G1").free == 0  # 4 inside of 3
    live.apply([passage("x2", "out", 11), passage("x3", "out", 12)], settle_s=0, now=NOW)
    assert live.lot("G1").free == 1


def test_passage_event_id_seen_is_a_duplicate(live):
    live.apply([passage("e1", "in")], settle_s=0, now=NOW)
    assert live.apply([passage("e1", "in")], settle_s=0, now=NOW) == [(Outcome.DUPLICATE, False)]
    assert live.lot("G1").free == 2


def test_newer_counts_set_free_and_older_are_stale(live):
    c = CountsReported(lot_id="C1", free=40, total=110, ts=T0 + timedelta(seconds=60))
    assert live.apply([c], settle_s=0, now=NOW) == [(Outcome.APPLIED, True)]
    old = CountsReported(lot_id="C1", free=10, total=110, ts=T0)
    assert live.apply([old], settle_s=0, now=NOW) == [(Outcome.STALE, False)]
    assert live.lot("C1").free == 40
    # passages after a count move from it
    live.apply([passage("c-1", "in", 70, lot="C1")], settle_s=0, now=NOW)
    assert live.lot("C1").free == 39


def test_counts_do_not_override_berth_sensors(live):
    c = CountsReported(lot_id="S1", free=4, total=4, ts=T0)
    assert live.apply([c], settle_s=0, now=NOW) == [(Outcome.UNCHANGED, False)]
    assert live.lot("S1").known is False


def test_silent_counting_lot_becomes_unknown(live):
    live.apply([CountsReported(lot_id="C1", free=40, total=110, ts=T0)], settle_s=0, now=NOW)
    assert live.lot("C1").known
    assert "C1" in live.sweep_silent((T0 + timedelta(seconds=10)).timestamp())
    assert not live.lot("C1").known
    live.apply([HeartbeatReported(lot_id="C1", device_id="gate-cam-1", ts=T0 + timedelta(seconds=20))], settle_s=0, now=NOW)
    assert live.lot("C1").known


def test_future_timestamps_are_clamped_to_now(live):
    future = BerthReported(lot_id="S1", berth_id="b1", occupied=False, seq=1, ts=T0 + timedelta(days=30))
    live.apply([future], settle_s=0, now=NOW)
    assert live.lot("S1").updated_at.timestamp() == pytest.approx(NOW)


def test_reconfigure_keeps_state_and_drops_removed_berths(live):
    live.apply([berth("b1", False, 1), berth("b4", False, 1)], settle_s=0, now=NOW)
    city = small_city()
    from dataclasses import replace

    city[0] = replace(city[0], berths=("b1", "b2", "b3"), total=3)
    live.configure(city)
    assert live.lot("S1").free == 1 and live.lot("S1").total == 3
    assert [b.id for b in live.berths("S1")] == ["b1", "b2", "b3"]


def test_lots_reads_many_at_once_and_skips_unknown_ids(live):
    got = live.lots(["S1", "G1", "nope"])
    assert set(got) == {"S1", "G1"}
    assert got["G1"].free == 3


def test_clear_forgets_and_reports_unconfigured(live):
    assert live.is_configured()
    live.clear()
    assert not live.is_configured()
    assert live.lot("S1") is None


def test_sensor_lot_reports_how_many_berths_are_known(live):
    assert (live.lot("S1").known_berths, live.lot("S1").berths) == (0, 4)
    live.apply([berth("b1", False, 1), berth("b2", True, 1, 100)], settle_s=0, now=NOW)
    assert (live.lot("S1").known_berths, live.lot("S1").berths) == (2, 4)
    live.sweep_silent((T0 + timedelta(seconds=50)).timestamp())  # b1 falls silent
    assert live.lot("S1").known_berths == 1
    assert live.lot("G1").berths == 0


def test_a_heartbeat_alone_does_not_make_an_uncounted_gate_lot_known(live):
    """A gate camera that is alive says nothing about how many cars are inside (issue 10, CP2958)."""
    live.apply([HeartbeatReported(lot_id="G1", device_id="gate-cam-1", ts=T0)], settle_s=0, now=NOW)
    g1 = live.lot("G1")
    assert g1.known is False
    assert g1.last_seen == T0  # heard, yet not counted
    live.apply([passage("e1", "in", 5)], settle_s=0, now=NOW)
    assert live.lot("G1").known and live.lot("G1").free == 2


def test_a_late_report_older_than_others_is_still_swept_when_silent(live):
    """b2's report arrives after b1's but was made earlier: silence is judged by event time."""
    live.apply([berth("b1", False, 1, 100)], settle_s=0, now=NOW)
    live.apply([berth("b2", False, 1, 50)], settle_s=0, now=NOW)
    assert live.sweep_silent((T0 + timedelta(seconds=80)).timestamp()) == {"S1"}
    assert {b.id: b.status for b in live.berths("S1")} == {"b1": "free", "b2": "unknown", "b3": "unknown", "b4": "unknown"}
    assert live.sweep_silent((T0 + timedelta(seconds=100)).timestamp()) == set()  # heard at the cutoff: not silent before it
    assert live.sweep_silent((T0 + timedelta(seconds=101)).timestamp()) == {"S1"}


def test_a_batch_spanning_lots_gives_each_event_its_outcome_in_order(live):
    """One call per hash slot in Redis: the outcomes still come back in the batch's order."""
    batch = [
        berth("b1", False, 1), passage("e1", "in", 1), CountsReported(lot_id="C1", free=60, total=110, ts=T0 + timedelta(seconds=2)),
        berth("b1", False, 1), passage("e1", "in", 3), berth("b2", True, 1, 4), passage("e2", "in", 5),
    ]
    assert live.apply(batch, settle_s=0, now=NOW) == [
        (Outcome.APPLIED, True), (Outcome.APPLIED, True), (Outcome.APPLIED, True),
        (Outcome.DUPLICATE, False), (Outcome.DUPLICATE, False), (Outcome.APPLIED, True), (Outcome.APPLIED, True),
    ]
    got = live.lots(["S1", "G1", "C1"])
    assert (got["S1"].free, got["G1"].free, got["C1"].free) == (1, 1, 60)
