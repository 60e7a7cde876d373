"""One place for "a lot and its availability now": `Directory.require` and `read_lot_now`/`read_lots_now`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parking_core.availability import AvailabilityRules, read_availability, read_lot_now, read_lots_now
from parking_core.directory import Directory
from parking_core.errors import LotNotFound
from parking_core.events import CountsReported
from parking_core.live.memory import MemoryLiveState
from parking_core.lots import LotInfo

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
RULES = AvailabilityRules()


def _lot(lot_id: str) -> LotInfo:
    return LotInfo(id=lot_id, name=lot_id, kind="off_street", operator="op", district="d", lat=31.3, lon=120.6, total=10)


@pytest.fixture
def city():
    lots = [_lot("A"), _lot("B")]
    live = MemoryLiveState()
    live.configure(lots)
    live.apply([CountsReported(lot_id="A", free=4, total=10, ts=NOW - timedelta(seconds=5))], settle_s=0, now=NOW.timestamp())
    return Directory(lots), live


def test_require_gives_the_lot_or_names_the_missing_id(city):
    directory, _ = city
    assert directory.require("A").id == "A"
    with pytest.raises(LotNotFound) as caught:
        directory.require("NOPE")
    err = caught.value
    assert (err.code, err.http_status, err.field, err.value) == ("lot_not_found", 404, "lot_id", "NOPE")
    assert "'NOPE'" in str(err)


def test_one_lot_now_is_what_the_list_reader_says(city):
    directory, live = city
    info, lv, a = read_lot_now(directory, live, "A", NOW, RULES)
    assert (info.id, a.free, a.status) == ("A", 4, "spacesAvailable")
    assert lv is not None and lv.free == 4
    ((same_info, same_a),) = read_availability(directory.lots, live, ["A"], NOW, RULES)
    assert (same_info, same_a) == (info, a)
    silent = read_lot_now(directory, live, "B", NOW, RULES)
    assert (silent.live.last_seen, silent.availability.status) == (None, "unknown")
    with pytest.raises(LotNotFound):
        read_lot_now(directory, live, "NOPE", NOW, RULES)


def test_the_list_reader_keeps_order_and_skips_unknown_ids(city):
    directory, live = city
    assert [n.info.id for n in read_lots_now(directory.lots, live, ["B", "NOPE", "A"], NOW, RULES)] == ["B", "A"]
