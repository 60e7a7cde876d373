"""The ingest still logs a repeated event once when the repeat falls in the next month, on both backends: a gate
camera that re-sends a passage after midnight on the 1st (a new timestamp, the same event id) opens no second stay,
and a berth report re-sent with the same seq is not logged again, before and after the month's partition is made."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from parking_core.clock import SHANGHAI
from parking_core.event_log_partitions import EventLogMaintenance, EventLogSettings
from parking_core.models import OccupancyEvent
from parking_core.session_models import ParkingSession
from tests.factories import berth_msg, passage_msg


def sh(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=SHANGHAI)


def counts(p) -> tuple[int, int]:
    with p.uow() as uow:
        return (uow.session.scalar(select(func.count()).select_from(OccupancyEvent)),
                uow.session.scalar(select(func.count()).select_from(ParkingSession).where(ParkingSession.lot_id == "G1")))


def test_a_repeat_across_the_month_boundary_is_logged_once_and_opens_one_stay(make_platform):
    p = make_platform(now=sh("2027-01-31T23:59:40"))
    entry = passage_msg("G1", "g1", "cam-7781", "in", "苏E12345", sh("2027-01-31T23:59:50"))
    report = berth_msg("S1", "b1", True, 5, sh("2027-01-31T23:59:55"))
    p.pipeline.process([entry, report])
    assert counts(p) == (2, 1)

    p.clock.advance(seconds=30)  # 00:00:10 on 1 February: the devices send again, stamped in the new month
    p.pipeline.process([passage_msg("G1", "g1", "cam-7781", "in", "苏E12345", sh("2027-02-01T00:00:05")),
                        berth_msg("S1", "b1", True, 5, sh("2027-02-01T00:00:03")), entry, report])
    assert counts(p) == (2, 1)

    maintenance = EventLogMaintenance(uow=p.uow, clock=p.clock, settings=EventLogSettings(PARKING_EVENT_LOG_MONTHS=0))
    maintenance.run()  # PostgreSQL: February's partition made, rows moved out of the default; SQLite: nothing to do
    p.pipeline.process([passage_msg("G1", "g1", "cam-7781", "in", "苏E12345", sh("2027-02-01T00:01:00")), entry])
    assert counts(p) == (2, 1)
    with p.uow() as uow:
        assert uow.session.scalar(select(OccupancyEvent.ts).where(OccupancyEvent.kind == "passage")) == sh("2027-01-31T23:59:50")
