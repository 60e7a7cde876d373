"""The unit of work owns the after-commit queue: in-transaction handlers write with the change, after-commit
handlers run once it committed and never after a rollback, and one that fails never fails the commit."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from parking_core.db import UnitOfWork
from parking_core.domain_events import VehicleEntered, VehicleExited
from parking_core.events import PassageReported
from parking_core.messagebus import HandlerMap, MessageBus
from parking_core.session_models import ParkingSession

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture
def platform(make_platform):
    return make_platform(now=T0 + timedelta(hours=3))


def entry(plate: str, key: str = "e1") -> PassageReported:
    return PassageReported("G1", "in1", key, "in", plate, T0)


def stays(p) -> int:
    with p.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(ParkingSession))


def uow_with(p, handlers: HandlerMap) -> UnitOfWork:
    return UnitOfWork(p.session_factory, MessageBus(handlers))


def test_after_commit_handlers_run_once_committed_never_after_a_rollback(platform):
    heard: list[str] = []
    handlers = HandlerMap(after_commit={VehicleEntered: [lambda e: heard.append(e.plate)]})
    with uow_with(platform, handlers) as uow:
        platform.stays.apply(uow, [entry("苏E00001")])
        assert heard == []  # not before the commit
    assert (heard, stays(platform)) == ([], 0)  # rolled back: it did not happen, nobody is told
    with uow_with(platform, handlers) as uow:
        platform.stays.apply(uow, [entry("苏E00002")])
        uow.commit()
        assert heard == ["苏E00002"]
        platform.stays.apply(uow, [entry("苏E00003", "e2")])
        uow.commit()  # the second commit tells only what it committed
    assert heard == ["苏E00002", "苏E00003"] and stays(platform) == 2


def test_a_failing_after_commit_handler_is_logged_and_the_commit_stands(platform, caplog):
    def broken(e) -> None:
        raise RuntimeError("notice service down")

    later: list[str] = []
    handlers = HandlerMap(after_commit={VehicleEntered: [broken, lambda e: later.append(e.plate)]})
    with caplog.at_level(logging.ERROR, logger="parking.bus"), uow_with(platform, handlers) as uow:
        platform.stays.apply(uow, [entry("苏E00001")])
        uow.commit()
    assert stays(platform) == 1 and later == ["苏E00001"]  # the next handler still ran
    assert "after-commit handler" in caplog.text and "VehicleEntered" in caplog.text


def test_an_in_transaction_handler_that_fails_undoes_the_change_it_reacted_to(platform):
    def refuse(uow, e) -> None:
        raise ValueError("no")

    with uow_with(platform, HandlerMap(inside={VehicleEntered: [refuse]})) as uow, pytest.raises(ValueError):
        platform.stays.apply(uow, [entry("苏E00001")])
        uow.commit()
    assert stays(platform) == 0


def test_events_recorded_by_handlers_are_handled_after_the_one_being_handled(platform):
    seen: list[str] = []

    def on_entry(uow, e: VehicleEntered) -> None:
        seen.append(f"entered {e.plate}")
        uow.record(VehicleExited(e.stay_id, e.lot_id, e.plate, e.at))
        seen.append("recorded exit")

    handlers = HandlerMap(inside={VehicleEntered: [on_entry], VehicleExited: [lambda uow, e: seen.append(f"exited {e.plate}")]})
    with uow_with(platform, handlers) as uow:
        platform.stays.apply(uow, [entry("苏E00001")])
        assert [type(e) for e in uow.events] == [VehicleEntered, VehicleExited]
    assert seen == ["entered 苏E00001", "recorded exit", "exited 苏E00001"]
