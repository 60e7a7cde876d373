"""Guidance ranking: space at arrival, walk, price and fresh data, each visible in the score and the reasons."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

import pytest

from billing.quotes import quote_stay
from billing.tariffs.catalog import load_tariff_catalog
from parking_core.availability import Availability
from parking_core.forecast import Prediction
from parking_core.guidance import WEIGHTS, Candidate, Trip, rank, stay_price
from parking_core.lots import LotInfo, SharedHours

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def cand(lot_id, *, distance=200.0, free_now=10, status="spacesAvailable", at_arrival=10, confidence=0.9,
         price=400, stale=False, age=30.0, tariff="t", total=50, shared=None) -> Candidate:
    info = LotInfo(id=lot_id, name=f"Lot {lot_id}", kind="off_street", operator="op", district="d", lat=0, lon=0,
                   total=total, tariff=tariff, shared_hours=SharedHours.parse(shared) if shared else None)
    return Candidate(
        info=info, distance_m=distance, now=Availability(free_now, total, status, NOW), stale=stale, age_s=age,
        at_arrival=Prediction(at_arrival, max(0, at_arrival - 2), at_arrival + 2, confidence, "test"), price_fen=price,
    )


def ids(options):
    return [o.candidate.info.id for o in options]


def test_nearer_wins_when_all_else_is_equal_and_the_parts_add_up_to_the_score():
    options = rank([cand("FAR", distance=700), cand("NEAR", distance=100)], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["NEAR", "FAR"]
    for o in options:
        assert set(o.parts) == set(WEIGHTS)
        assert o.score == pytest.approx(sum(o.parts.values()), abs=0.2)
        assert 0 <= o.score <= 100
    assert options[0].reasons[0] == "100 m from your destination"


def test_space_expected_at_arrival_beats_a_nearer_lot_expected_full():
    full_stays_full = cand("A", distance=50, free_now=0, status="full", at_arrival=0)
    full_then_free = cand("B", distance=300, free_now=0, status="full", at_arrival=8)
    options = rank([full_stays_full, full_then_free], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["B", "A"]
    assert "full now, space expected at arrival" in options[0].reasons
    assert "full now, no space expected at arrival" in options[1].reasons


def test_space_now_but_full_at_arrival_is_said():
    (o,) = rank([cand("A", free_now=3, at_arrival=0)], max_walk_m=800, stay=HOUR, limit=10)
    assert "3 free now, expected full at arrival" in o.reasons and o.parts["space"] == 0


def test_stale_data_ranks_down_and_says_how_old_it_is():
    options = rank([cand("OLD", distance=100, stale=True, age=1800), cand("NEW", distance=150)], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["NEW", "OLD"]
    assert "no fresh data (data 30 min old): shown after the 1 car park with fresh data and space within 800 m" in options[1].reasons
    assert "10 free when last heard" in options[1].reasons  # never "free now" for old data
    assert options[1].parts["fresh"] == 0 and options[0].parts["fresh"] == WEIGHTS["fresh"]


def test_unknown_status_is_stale_and_says_why_it_is_shown():
    (o,) = rank([cand("U", free_now=0, status="unknown", stale=True, age=None)], max_walk_m=800, stay=HOUR, limit=10)
    assert "no current count" in o.reasons
    assert "no fresh data (never heard from): shown because nothing better within 800 m" in o.reasons


def test_a_stale_lot_never_outranks_a_fresh_lot_with_space_however_near():
    """Issue 10: lots without fresh data were ranked first; a fresh lot with space comes first now,
    even when the stale one is at the door with plenty of space predicted and the fresh one far."""
    stale = cand("DOOR", distance=10, at_arrival=10, stale=True, age=None, free_now=0, status="unknown")
    fresh = cand("FAR", distance=700, free_now=1, at_arrival=1)
    options = rank([stale, fresh], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["FAR", "DOOR"]
    assert options[1].score > options[0].score  # the score alone would have put it first
    assert options[1].parts["fresh"] == 0


def test_a_fresh_lot_without_space_ranks_by_score_among_the_stale():
    stale = cand("STALE", distance=100, at_arrival=5, stale=True, age=None, free_now=0, status="unknown")
    full = cand("FULL", distance=120, free_now=0, status="full", at_arrival=0)
    options = rank([full, stale], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["STALE", "FULL"]
    assert "no fresh data (never heard from): shown because nothing better within 800 m" in options[0].reasons


def test_a_more_confident_forecast_of_the_same_space_ranks_higher():
    options = rank([cand("UNSURE", confidence=0.2), cand("SURE", confidence=0.9)], max_walk_m=800, stay=HOUR, limit=10)
    assert ids(options) == ["SURE", "UNSURE"]
    assert "forecast uncertain" in options[1].reasons


def test_the_cheapest_stay_is_named_and_scores_the_whole_price_part():
    options = rank([cand("DEAR", price=1000), cand("CHEAP", price=200), cand("MID", price=600)], max_walk_m=800, stay=2 * HOUR, limit=10)
    assert ids(options) == ["CHEAP", "MID", "DEAR"]
    assert "cheapest here: 2.00 CNY for 2 h" in options[0].reasons
    assert [o.parts["price"] for o in options] == [15.0, 7.5, 0.0]
    assert "10.00 CNY for 2 h" in options[2].reasons


def test_a_lot_without_a_tariff_gets_a_neutral_price_part_and_says_why():
    options = rank([cand("NONE", price=None, tariff=None), cand("LOST", price=None, tariff="gone")], max_walk_m=800, stay=HOUR, limit=10)
    by_id = {o.candidate.info.id: o for o in options}
    assert by_id["NONE"].parts["price"] == 7.5
    assert "no tariff on record" in by_id["NONE"].reasons
    assert "price unknown (tariff 'gone' not loaded)" in by_id["LOST"].reasons


def test_limit_keeps_the_best_and_shared_hours_are_mentioned():
    found = [cand(f"L{i}", distance=100 * i) for i in range(1, 6)] + [cand("SH", distance=50, shared="18:00-08:00")]
    options = rank(found, max_walk_m=800, stay=HOUR, limit=3)
    assert ids(options) == ["SH", "L1", "L2"]
    assert "open to the public 18:00-08:00" in options[0].reasons


@pytest.mark.parametrize("vehicle, fen", [("small", 200), ("large", 400), ("nev", 100)])
def test_the_expected_price_follows_the_vehicle(vehicle, fen):
    """suzhou-offstreet: 30 min free, then 2 CNY a started hour; large vehicles double, new-energy half."""
    price = partial(quote_stay, load_tariff_catalog())
    trip = Trip(lat=0, lon=0, arrive_at=NOW, stay=HOUR, vehicle=vehicle, max_walk_m=800)
    assert stay_price(price, "suzhou-offstreet", trip) == fen
    assert stay_price(price, None, trip) is None
    assert stay_price(price, "gone", trip) is None
