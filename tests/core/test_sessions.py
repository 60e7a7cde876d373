"""Stays from passages and video berths, with what goes wrong kept for a person."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from parking_core.domain_events import StayCorrected, VehicleExited
from parking_core.errors import Conflict, InvalidInput
from parking_core.events import PassageReported
from parking_core.session_models import ParkingSession
from tests.factories import berth_msg, passage_msg

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def platform(make_platform):
    return make_platform(now=T0 + timedelta(hours=3))


def sessions(p, **where):
    with p.uow() as uow:
        q = select(ParkingSession)
        for k, v in where.items():
            q = q.where(getattr(ParkingSession, k) == v)
        rows = list(uow.session.scalars(q.order_by(ParkingSession.created_at)))
        uow.session.expunge_all()
        return rows


def feed(p, *msgs):
    p.pipeline.process(list(msgs))


def test_entry_then_exit_is_one_closed_session(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E12345", T0, plate_color="blue"))
    (s,) = sessions(platform)
    assert (s.status, s.plate, s.entered_at, s.vehicle, s.new_energy) == ("open", "苏E12345", T0, "small", False)
    feed(platform, passage_msg("G1", "out1", "e2", "out", "苏E12345", T0 + timedelta(hours=2)))
    (s,) = sessions(platform)
    assert (s.status, s.exited_at, s.review) == ("closed", T0 + timedelta(hours=2), None)


def test_redelivered_passages_change_nothing(platform):
    msgs = [passage_msg("G1", "in1", "e1", "in", "苏E12345", T0), passage_msg("G1", "out1", "e2", "out", "苏E12345", T0 + timedelta(hours=1))]
    feed(platform, *msgs)
    platform.record_stays([])  # nothing to do
    from sensors.messages import parse_message

    platform.record_stays([parse_message(t, p, "parking/v1", now=platform.clock()) for t, p in msgs])
    assert len(sessions(platform)) == 1


def test_green_and_yellow_plates_set_vehicle_class(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏EF12345", T0, plate_color="green"), passage_msg("G1", "in1", "e2", "in", "苏E99999", T0, plate_color="yellow"))
    got = {s.plate: (s.vehicle, s.new_energy) for s in sessions(platform)}
    assert got == {"苏EF12345": ("small", True), "苏E99999": ("large", False)}


def test_exit_with_one_misread_character_matches_the_car_inside_for_review(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E12345", T0), passage_msg("G1", "in1", "e2", "in", "苏E77777", T0))
    feed(platform, passage_msg("G1", "out1", "e3", "out", "苏E12346", T0 + timedelta(hours=1)))
    s = sessions(platform, plate="苏E12345")[0]
    assert s.status == "closed" and s.exit_plate == "苏E12346" and "confirm" in s.review
    audit = _audit(platform, s.id)
    assert [(a.action, a.old, a.new) for a in audit] == [("fuzzy_match", "苏E12346", "苏E12345")]


def test_exit_without_any_entry_waits_for_a_person_and_is_billed_after_confirming(platform):
    feed(platform, passage_msg("G1", "out1", "e3", "out", "浙A55555", T0 + timedelta(hours=1)))
    (s,) = sessions(platform)
    assert s.status == "unmatched" and s.entered_at is None and "without a matching entry" in s.review
    with platform.uow() as uow:
        platform.stays.confirm_entry(uow, s.id, entered_at=T0, actor="op:alice", reason="CCTV shows entry at 09:00")
        told = list(uow.events)
        uow.commit()
    (s,) = sessions(platform)
    assert (s.status, s.entered_at, s.review) == ("closed", T0, None)
    assert [e for e in told if isinstance(e, VehicleExited)] == [VehicleExited(s.id, "G1", "浙A55555", T0 + timedelta(hours=1))]
    with platform.uow() as uow, pytest.raises(Conflict):
        platform.stays.confirm_entry(uow, s.id, entered_at=T0, actor="op:alice", reason="again")


def test_a_second_entry_voids_the_stay_whose_exit_was_missed(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E12345", T0 - timedelta(days=1)))
    feed(platform, passage_msg("G1", "in1", "e1b", "in", "苏E12345", T0 - timedelta(days=1) + timedelta(seconds=30)))  # read twice at the barrier
    assert len(sessions(platform)) == 1
    feed(platform, passage_msg("G1", "in1", "e2", "in", "苏E12345", T0))
    old, new = sessions(platform)
    assert old.status == "void" and "no exit seen" in old.review and new.status == "open"


def test_two_exit_cameras_reading_the_same_car_close_once(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E12345", T0))
    exits = [PassageReported("G1", gate, key, "out", "苏E12345", T0 + timedelta(hours=1, seconds=k * 5)) for k, (gate, key) in enumerate([("out1", "x1"), ("out2", "x2")])]
    with platform.uow() as uow:
        platform.stays.apply(uow, exits)
        closed = [e for e in uow.events if isinstance(e, VehicleExited)]
        uow.commit()
    assert len(closed) == 1 and len(sessions(platform)) == 1


def test_video_berth_opens_and_closes_on_street_sessions(platform):
    feed(platform, berth_msg("S1", "b1", True, 1, T0, plate="苏E12345"), berth_msg("S1", "b1", True, 2, T0 + timedelta(minutes=5), plate="苏E12345"))
    (s,) = sessions(platform)
    assert (s.source, s.berth_id, s.status) == ("berth", "b1", "open")
    feed(platform, berth_msg("S1", "b1", False, 3, T0 + timedelta(minutes=50)))
    (s,) = sessions(platform)
    assert (s.status, s.exited_at) == ("closed", T0 + timedelta(minutes=50))


def test_corrections_keep_an_audit_trail_and_reject_nonsense(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E12345", T0), passage_msg("G1", "out1", "e2", "out", "苏E12345", T0 + timedelta(hours=1)))
    (s,) = sessions(platform)
    with platform.uow() as uow:
        platform.stays.correct(uow, s.id, field="entered_at", value=(T0 + timedelta(minutes=30)).isoformat(), actor="op:bob", reason="gate clock was 30 min fast")
        corrected = [e for e in uow.events if isinstance(e, StayCorrected)]
        uow.commit()
    assert corrected == [StayCorrected(s.id, "entered_at")]
    assert sessions(platform)[0].entered_at == T0 + timedelta(minutes=30)
    (a,) = _audit(platform, s.id)
    assert (a.actor, a.field, a.old, a.reason) == ("op:bob", "entered_at", T0.isoformat(), "gate clock was 30 min fast")
    for field, value, reason in [("lot_id", "X", "r"), ("plate", "苏E1", " "), ("entered_at", "yesterday", "r"), ("entered_at", "2026-11-23T10:00:00", "r"),
                                 ("entered_at", (T0 + timedelta(hours=5)).isoformat(), "r")]:
        with platform.uow() as uow, pytest.raises(InvalidInput):
            platform.stays.correct(uow, s.id, field=field, value=value, actor="op:bob", reason=reason)


def test_long_stays_are_flagged_and_listed_as_possible_abandoned_cars(platform):
    feed(platform, passage_msg("G1", "in1", "e1", "in", "苏E00001", T0 - timedelta(days=20)), passage_msg("G1", "in1", "e2", "in", "苏E00002", T0))
    with platform.uow() as uow:
        assert platform.stays.flag_overstays(uow.session, older_than=timedelta(days=1)) == 1
        assert [s.plate for s in platform.stays.long_stays(uow.session, min_days=14)] == ["苏E00001"]
        uow.commit()


def _audit(p, session_id):
    with p.uow() as uow:
        rows = p.stays.audit(uow.session, session_id)
        uow.session.expunge_all()
        return rows
