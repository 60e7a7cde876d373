"""The ingest pipeline on both backends: apply, log once, publish changes, dead-letter the bad."""
from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import func, select

from parking_core.models import AvailabilityChange, OccupancyEvent
from sensors.topics import Topics
from tests.factories import PREFIX, berth_msg, counts_msg, heartbeat_msg, passage_msg

TOPICS = Topics(PREFIX)


def logged(platform, kind=None):
    with platform.uow() as uow:
        q = select(func.count()).select_from(OccupancyEvent)
        if kind:
            q = q.where(OccupancyEvent.kind == kind)
        return uow.session.scalar(q)


def availability_msgs(platform, lot):
    return [orjson.loads(p) for t, p, r in platform.published if t == TOPICS.availability(lot) and r]


def rejected(platform):
    return [(t, orjson.loads(p)) for t, p, r in platform.published if getattr(TOPICS.parse(t), "kind", None) == "rejected"]


def test_berth_reports_update_live_state_log_and_retained_availability(make_platform):
    p = make_platform()
    now = p.clock()
    p.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now), berth_msg("S1", "b3", False, 1, now)])
    live = p.live.lot("S1")
    assert (live.free, live.total) == (2, 4)
    assert logged(p, "berth") == 3
    msgs = availability_msgs(p, "S1")
    assert msgs[-1] == {"free": 2, "total": 4, "status": "spacesAvailable", "ts": now.isoformat()}


def test_duplicates_are_counted_not_applied_nor_logged_twice(make_platform):
    p = make_platform()
    now = p.clock()
    batch = [berth_msg("S1", "b1", False, 1, now), passage_msg("G1", "g1", "e1", "in", "苏E12345", now)]
    p.pipeline.process(batch)
    p.pipeline.process(batch)  # re-delivery of the same batch
    p.pipeline.process([berth_msg("S1", "b1", True, 1, now)])  # same seq, other content
    assert p.live.lot("S1").free == 1
    assert p.live.lot("G1").free == 2
    assert logged(p) == 2
    stats = p.pipeline.stats.as_dict()
    assert stats["duplicates"] == 3 and stats["applied"] == 2


def test_unknown_lot_berth_and_bad_payload_go_to_the_rejected_topic(make_platform):
    p = make_platform()
    now = p.clock()
    p.pipeline.process([
        berth_msg("NOPE", "b1", True, 1, now),
        berth_msg("S1", "b99", True, 1, now),
        (f"{PREFIX}/lots/S1/berths/b1/state", b'{"occupied": "maybe", "seq": 1, "ts": "2026-11-23T10:00:00+08:00"}'),
        (f"{PREFIX}/lots/G1/gates/g1/passages", b"not json"),
    ])
    rej = rejected(p)
    assert [t for t, _ in rej] == [f"{PREFIX}/rejected/_", f"{PREFIX}/rejected/S1", f"{PREFIX}/rejected/S1", f"{PREFIX}/rejected/G1"]
    reasons = [b["reason"] for _, b in rej]
    assert reasons[0] == "unknown lot 'NOPE'"
    assert reasons[1] == "unknown berth 'b99' in lot 'S1'"
    assert "field 'occupied'" in reasons[2]
    assert "not valid JSON" in reasons[3]
    assert rej[2][1]["payload"] == {"occupied": "maybe", "seq": 1, "ts": "2026-11-23T10:00:00+08:00"}
    assert rej[3][1]["payload"] == "not json"
    assert rej[0][1]["topic"] == f"{PREFIX}/lots/NOPE/berths/b1/state"
    assert logged(p) == 0
    assert p.live.lot("S1").known is False
    assert p.pipeline.stats.rejected == 4


def test_rejected_payload_is_cut_at_4_kib(make_platform):
    p = make_platform()
    big = b'{"x": "' + b"a" * 10_000 + b'"}'
    p.pipeline.process([(f"{PREFIX}/lots/S1/berths/b1/state", big)])
    (_, body), = rejected(p)
    assert len(body["payload"]) == 4096


def test_passages_and_counts_drive_gate_lots(make_platform):
    p = make_platform()
    now = p.clock()
    p.pipeline.process([passage_msg("G1", "g1", f"e{i}", "in", f"苏E1234{i}", now + timedelta(seconds=i)) for i in range(3)])
    assert availability_msgs(p, "G1")[-1]["status"] == "full"
    p.pipeline.process([passage_msg("G1", "g2", "e9", "out", "苏E12340", now + timedelta(seconds=9))])
    assert availability_msgs(p, "G1")[-1]["free"] == 1
    p.clock.now = now.replace(hour=12)  # 20:00 in Shanghai: the shared lot is open
    p.pipeline.process([counts_msg("C1", 50, 110, p.clock())])
    assert availability_msgs(p, "C1")[-1] == {"free": 50, "total": 110, "status": "spacesAvailable", "ts": p.clock().isoformat()}


def test_availability_is_published_only_on_change_and_recorded(make_platform):
    p = make_platform()
    now = p.clock()
    p.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now)])  # half known: judged
    p.pipeline.process([berth_msg("S1", "b1", False, 2, now + timedelta(seconds=5)), heartbeat_msg("S1", "b1", now)])
    assert len(availability_msgs(p, "S1")) == 1
    with p.uow() as uow:
        rows = [(r.free, r.status) for r in uow.session.scalars(select(AvailabilityChange).where(AvailabilityChange.lot_id == "S1"))]
    assert rows == [(1, "spacesAvailable")]


def test_debounce_then_tick_settles(make_platform):
    p = make_platform(PARKING_DEBOUNCE_S="30")
    now = p.clock()
    p.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now)])  # half known: judged
    p.clock.advance(seconds=5)
    p.pipeline.process([berth_msg("S1", "b1", True, 2, p.clock())])
    assert p.live.lot("S1").free == 1
    p.clock.advance(seconds=40)
    p.pipeline.tick(heartbeat_timeout_s=900)
    assert p.live.lot("S1").free == 0
    assert availability_msgs(p, "S1")[-1]["status"] == "full"


def test_heartbeat_timeout_makes_berths_unknown(make_platform):
    p = make_platform(PARKING_HEARTBEAT_TIMEOUT_S="600")
    now = p.clock()
    p.pipeline.process([berth_msg("S1", b, False, 1, now) for b in ("b1", "b2")])
    p.clock.advance(seconds=300)
    p.pipeline.process([heartbeat_msg("S1", "b2", p.clock())])
    p.clock.advance(seconds=400)
    p.pipeline.tick(heartbeat_timeout_s=600)
    assert {b.id: b.status for b in p.live.berths("S1")}["b1"] == "unknown"
    assert p.live.lot("S1").free == 1


def test_shared_hours_close_and_open_the_lot_on_tick(make_platform):
    p = make_platform()  # 02:00 UTC = 10:00 Shanghai: C1 (18:00-08:00) is closed
    p.pipeline.tick(heartbeat_timeout_s=900)
    assert availability_msgs(p, "C1")[-1]["status"] == "closed"
    p.clock.now = p.clock.now.replace(hour=10)  # 18:00 Shanghai
    p.pipeline.process([counts_msg("C1", 80, 110, p.clock())])
    assert availability_msgs(p, "C1")[-1]["status"] == "spacesAvailable"


def test_live_state_rebuilds_from_the_log(make_platform):
    p = make_platform()
    now = p.clock()
    p.pipeline.process([
        berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now), berth_msg("S1", "b1", True, 2, now + timedelta(seconds=1)),
        passage_msg("G1", "g1", "e1", "in", "苏E12345", now), passage_msg("G1", "g1", "e2", "in", "苏E12346", now),
        counts_msg("C1", 70, 110, now - timedelta(minutes=5)), passage_msg("C1", "g", "c1", "in", "苏E00001", now),
    ])
    before = {lot: p.live.lot(lot) for lot in ("S1", "G1", "C1")}
    p.live.clear()  # a Redis restart loses everything
    p.pipeline.process([passage_msg("G1", "g1", "e2", "in", "苏E12346", now)])  # re-delivery after the loss
    after = {lot: p.live.lot(lot) for lot in ("S1", "G1", "C1")}
    assert {k: (v.free, v.total, v.known) for k, v in after.items()} == {k: (v.free, v.total, v.known) for k, v in before.items()}
    assert after["G1"].free == 1 and after["C1"].free == 69 and after["S1"].free == 0
    assert logged(p) == 7


def test_devices_last_heartbeat_is_recorded_at_the_next_tick(make_platform):
    from parking_core.models import Device

    p = make_platform()
    now = p.clock()
    p.pipeline.process([heartbeat_msg("G1", "cam-1", now - timedelta(seconds=30)), heartbeat_msg("G1", "cam-1", now)])
    p.pipeline.tick(heartbeat_timeout_s=900)
    p.pipeline.process([heartbeat_msg("G1", "cam-1", now - timedelta(seconds=10))])  # late: must not move it back
    p.pipeline.tick(heartbeat_timeout_s=900)
    with p.uow() as uow:
        rows = [(d.lot_id, d.id, d.last_seen_at) for d in uow.session.scalars(select(Device))]
    assert rows == [("G1", "cam-1", now)]
    assert logged(p, "heartbeat") == 3
