"""Honest status (contract section 2, issue 10): no fresh data is `unknown` -- never free, never full --
and a berth-sensor lot is judged on its known berths only while enough of them are known."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking_core.availability import AvailabilityRules, availability
from parking_core.events import BerthReported, CountsReported, HeartbeatReported, PassageReported
from parking_core.live.base import LiveLot
from parking_core.live.memory import MemoryLiveState
from parking_core.lots import LotInfo

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Suzhou
RULES = AvailabilityRules(almost_full_ratio=0.1, heartbeat_timeout_s=900, min_known_share=0.5)
GATE = LotInfo(id="CP2958", name="gate-counted", kind="off_street", operator="op", district="d", lat=31.3, lon=120.6, total=50)
STREET = LotInfo(id="ST0808", name="street", kind="on_street", operator="op", district="d", lat=31.3, lon=120.6, total=37,
                 berths=tuple(f"b{i:02d}" for i in range(37)))


def live_of(*lots: LotInfo) -> MemoryLiveState:
    live = MemoryLiveState()
    live.configure(lots)
    return live


def test_a_gate_lot_never_heard_from_is_unknown_not_free():
    a = availability(GATE, live_of(GATE).lot("CP2958"), NOW, RULES)
    assert (a.status, a.free, a.total) == ("unknown", 0, 50)
    assert a.unknown_reason == "never heard from"


def test_a_gate_lot_whose_camera_only_sends_heartbeats_is_unknown():
    """CP2958 went from `unknown 0/50` to `spacesAvailable 50/50` on a camera heartbeat: alive is not counted."""
    live = live_of(GATE)
    live.apply([HeartbeatReported(lot_id="CP2958", device_id="g1", ts=NOW)], settle_s=0, now=NOW.timestamp())
    a = availability(GATE, live.lot("CP2958"), NOW, RULES)
    assert (a.status, a.free) == ("unknown", 0)
    live.apply([PassageReported(lot_id="CP2958", gate_id="g1", event_id="e1", direction="in", plate="苏E12345", ts=NOW)],
               settle_s=0, now=NOW.timestamp())
    a = availability(GATE, live.lot("CP2958"), NOW, RULES)
    assert (a.status, a.free) == ("spacesAvailable", 49)


def test_a_lot_silent_past_the_timeout_is_unknown_at_read_time_without_any_tick():
    live = live_of(GATE)
    live.apply([CountsReported(lot_id="CP2958", free=20, total=50, ts=NOW)], settle_s=0, now=NOW.timestamp())
    lot = live.lot("CP2958")
    assert availability(GATE, lot, NOW + timedelta(seconds=900), RULES).status == "spacesAvailable"
    later = availability(GATE, lot, NOW + timedelta(seconds=901), RULES)  # nobody swept: the clock alone decides
    assert (later.status, later.free) == ("unknown", 0)
    assert later.unknown_reason == "nothing heard for 15 min"


def test_a_full_lot_that_falls_silent_is_unknown_not_full():
    live = live_of(GATE)
    live.apply([CountsReported(lot_id="CP2958", free=0, total=50, ts=NOW)], settle_s=0, now=NOW.timestamp())
    assert availability(GATE, live.lot("CP2958"), NOW, RULES).status == "full"
    assert availability(GATE, live.lot("CP2958"), NOW + timedelta(hours=1), RULES).status == "unknown"


def berths(n_free: int, n_occupied: int, at: datetime = NOW) -> list[BerthReported]:
    states = [False] * n_free + [True] * n_occupied
    return [BerthReported(lot_id="ST0808", berth_id=f"b{i:02d}", occupied=occ, seq=1, ts=at) for i, occ in enumerate(states)]


def test_a_street_with_almost_all_berths_unknown_is_unknown_not_full():
    """ST0808 was `full 0/37` with 36 berths unknown and 1 occupied."""
    live = live_of(STREET)
    live.apply(berths(0, 1), settle_s=0, now=NOW.timestamp())
    a = availability(STREET, live.lot("ST0808"), NOW, RULES)
    assert (a.status, a.free, a.total, a.berths_known) == ("unknown", 0, 37, 1)
    assert a.unknown_reason == "only 1 of 37 berths known"


def test_a_street_with_enough_berths_known_is_judged_on_them_only():
    live = live_of(STREET)
    live.apply(berths(2, 17), settle_s=0, now=NOW.timestamp())  # 19 of 37 known: over half
    a = availability(STREET, live.lot("ST0808"), NOW, RULES)
    assert (a.status, a.free, a.total, a.berths_known) == ("spacesAvailable", 2, 37, 19)
    live2 = live_of(STREET)
    live2.apply(berths(1, 18), settle_s=0, now=NOW.timestamp())  # 1 free of 19 known: almost full on the known ones
    assert availability(STREET, live2.lot("ST0808"), NOW, RULES).status == "almostFull"
    live3 = live_of(STREET)
    live3.apply(berths(0, 19), settle_s=0, now=NOW.timestamp())
    assert availability(STREET, live3.lot("ST0808"), NOW, RULES).status == "full"


def test_the_share_is_configurable_and_the_boundary_counts_as_enough():
    live = live_of(STREET)
    live.apply(berths(3, 7), settle_s=0, now=NOW.timestamp())  # 10 of 37 known
    lot = live.lot("ST0808")
    assert availability(STREET, lot, NOW, RULES).status == "unknown"
    assert availability(STREET, lot, NOW, AvailabilityRules(min_known_share=10 / 37)).status == "spacesAvailable"
    assert availability(STREET, lot, NOW, AvailabilityRules(min_known_share=0.0)).status == "spacesAvailable"


def test_berths_going_silent_drop_the_street_below_the_share_when_swept():
    live = live_of(STREET)
    early, late = NOW - timedelta(minutes=20), NOW - timedelta(minutes=1)
    live.apply(berths(5, 5, early), settle_s=0, now=NOW.timestamp())  # b00-b09 heard 20 min ago
    live.apply([BerthReported(lot_id="ST0808", berth_id=f"b{i:02d}", occupied=False, seq=1, ts=late) for i in range(10, 20)],
               settle_s=0, now=NOW.timestamp())  # b10-b19 a minute ago: 20 of 37 known
    assert availability(STREET, live.lot("ST0808"), NOW, RULES).status == "spacesAvailable"
    assert live.sweep_silent(NOW.timestamp() - 900) == {"ST0808"}  # the ticker: b00-b09 are silent
    a = availability(STREET, live.lot("ST0808"), NOW, RULES)
    assert (a.status, a.berths_known) == ("unknown", 10)


def test_closed_outside_shared_hours_wins_over_unknown():
    from parking_core.lots import SharedHours

    shared = LotInfo(id="SH", name="shared", kind="off_street", operator="op", district="d", lat=0, lon=0, total=10,
                     shared_hours=SharedHours.parse("18:00-08:00"))
    assert availability(shared, live_of(shared).lot("SH"), NOW, RULES).status == "closed"


@given(
    free=st.integers(0, 40), known=st.integers(0, 40), berths=st.integers(1, 40), total=st.integers(1, 60),
    silent_s=st.one_of(st.none(), st.floats(0, 5000)), is_counted=st.booleans(), sensors=st.booleans(),
    share=st.floats(0, 1), ratio=st.floats(0, 1),
)
def test_unknown_is_never_free_and_a_live_status_never_rests_on_old_or_too_little_data(
    free, known, berths, total, silent_s, is_counted, sensors, share, ratio,
):
    known = min(known, berths)
    info = LotInfo(id="L", name="L", kind="off_street", operator="op", district="d", lat=0, lon=0, total=total,
                   berths=tuple(f"b{i}" for i in range(berths)) if sensors else ())
    seen = None if silent_s is None else NOW - timedelta(seconds=silent_s)
    lot = LiveLot(free=min(free, known) if sensors else free, total=total, known=(known > 0) if sensors else is_counted,
                  updated_at=seen, last_seen=seen, known_berths=known if sensors else 0, berths=berths if sensors else 0)
    rules = AvailabilityRules(almost_full_ratio=ratio, heartbeat_timeout_s=900, min_known_share=share)
    a = availability(info, lot, NOW, rules)
    fresh = silent_s is not None and silent_s <= 900
    enough = (known > 0 and known >= share * berths) if sensors else is_counted
    if a.status == "unknown":
        assert a.free == 0 and a.unknown_reason
    else:
        assert fresh and enough
        assert 0 <= a.free <= (known if sensors else total)
        assert (a.status == "full") == (a.free == 0)
    assert a.status == ("unknown" if not (fresh and enough) else a.status)
    assert a.berths_known == (known if sensors else None)


@pytest.mark.parametrize("timeout", [60.0, 900.0])
def test_rules_come_from_the_settings(timeout):
    from parking_core.settings import load_settings

    s = load_settings(PARKING_HEARTBEAT_TIMEOUT_S=str(timeout), PARKING_MIN_KNOWN_SHARE="0.25", PARKING_ALMOST_FULL_RATIO="0.2")
    assert AvailabilityRules.from_settings(s) == AvailabilityRules(almost_full_ratio=0.2, heartbeat_timeout_s=timeout, min_known_share=0.25)


def test_a_bad_min_known_share_stops_start_up_naming_it():
    from parking_core.errors import ConfigError
    from parking_core.settings import load_settings

    with pytest.raises(ConfigError) as err:
        load_settings(PARKING_MIN_KNOWN_SHARE="1.5")
    assert "PARKING_MIN_KNOWN_SHARE='1.5'" in str(err.value)
