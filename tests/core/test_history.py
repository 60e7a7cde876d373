"""A lot's history from the availability log: its changes, or the value in force every step; limits named."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parking_core import history as history_module
from parking_core.availability import Availability
from parking_core.errors import InvalidInput
from parking_core.eventlog import append_availability
from parking_core.history import history

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def platform(make_platform):
    """G1 (3 spaces): free 3 at 00:00, 1 at 00:10, full at 00:25, 2 at 01:00 (UTC, the 22nd); now is the 23rd, 02:00."""
    p = make_platform()
    changes = [(3, "spacesAvailable", 0), (1, "spacesAvailable", 10), (0, "full", 25), (2, "spacesAvailable", 60)]
    with p.uow() as uow:
        append_availability(uow.session, [
            ("G1", T0 + timedelta(minutes=m), Availability(free, 3, status, T0 + timedelta(minutes=m))) for free, status, m in changes
        ])
        append_availability(uow.session, [("S1", T0, Availability(4, 4, "spacesAvailable", T0))])
        uow.commit()
    return p


def read(p, start, end, step=None, lot="G1", total=3):
    with p.uow() as uow:
        return history(uow.session, lot, start, end, step_s=step, total=total, now=p.clock())


def test_changes_only_by_default_with_the_value_in_force_at_from(platform):
    h = read(platform, T0 + timedelta(minutes=5), T0 + timedelta(hours=2))
    assert [(p.ts, p.free, p.status) for p in h.points] == [
        (T0 + timedelta(minutes=10), 1, "spacesAvailable"),
        (T0 + timedelta(minutes=25), 0, "full"),
        (T0 + timedelta(minutes=60), 2, "spacesAvailable"),
    ]
    assert (h.in_force_at_start.ts, h.in_force_at_start.free) == (T0, 3)
    assert h.step_s is None


def test_other_lots_changes_are_not_shown(platform):
    h = read(platform, T0 - timedelta(minutes=1), T0 + timedelta(hours=2), lot="S1", total=4)
    assert [(p.free, p.total) for p in h.points] == [(4, 4)]


def test_a_step_gives_the_value_in_force_at_each_step(platform):
    h = read(platform, T0 - timedelta(minutes=10), T0 + timedelta(minutes=30), step=600)
    assert [(p.ts - T0, p.free, p.status) for p in h.points] == [
        (timedelta(minutes=-10), 0, "unknown"),  # nothing logged yet
        (timedelta(0), 3, "spacesAvailable"),
        (timedelta(minutes=10), 1, "spacesAvailable"),
        (timedelta(minutes=20), 1, "spacesAvailable"),
        (timedelta(minutes=30), 0, "full"),
    ]
    assert all(p.total == 3 for p in h.points)


def test_steps_stop_at_now(platform):
    now = platform.clock()
    h = read(platform, now - timedelta(minutes=20), now + timedelta(hours=1), step=600)
    assert [p.ts for p in h.points] == [now - timedelta(minutes=20), now - timedelta(minutes=10), now]
    assert {p.free for p in h.points} == {2}


@pytest.mark.parametrize(
    "start, end, step, field",
    [
        (T0, T0, None, "to"),
        (T0 + timedelta(hours=1), T0, None, "to"),
        (T0 - timedelta(days=31, seconds=1), T0, None, "from"),
        (T0, T0 + timedelta(hours=1), 59, "step"),
        (T0, T0 + timedelta(days=5), 60, "step"),  # 7,201 steps
        (T0.replace(tzinfo=None), T0 + timedelta(hours=1), None, "from"),
        (T0, (T0 + timedelta(hours=1)).replace(tzinfo=None), None, "to"),
    ],
)
def test_requests_out_of_bounds_are_refused_naming_the_parameter(platform, start, end, step, field):
    with pytest.raises(InvalidInput) as err:
        read(platform, start, end, step)
    assert err.value.field == field


def test_31_days_and_exactly_the_most_steps_are_allowed(platform):
    assert len(read(platform, T0 - timedelta(days=30), T0 + timedelta(days=1)).points) == 4
    start = platform.clock() - timedelta(minutes=history_module.MAX_STEPS - 1)
    assert len(read(platform, start, platform.clock(), 60).points) == history_module.MAX_STEPS


def test_too_many_changes_ask_for_a_narrower_range_or_a_step(platform, monkeypatch):
    monkeypatch.setattr(history_module, "MAX_CHANGES", 2)
    with pytest.raises(InvalidInput) as err:
        read(platform, T0 - timedelta(minutes=1), T0 + timedelta(hours=2))
    assert err.value.field == "from" and "pass a step" in err.value.message
    assert len(read(platform, T0 - timedelta(minutes=1), T0 + timedelta(hours=2), step=900).points) == 9
