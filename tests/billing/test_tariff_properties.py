"""Properties of the fee over random rule sets and stays, each shown able to fail on a broken engine."""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable

import pytest
from hypothesis import Phase, HealthCheck, given, settings
from hypothesis import strategies as st

from billing.tariffs import CompiledTariff, TariffRuleSet, compile_tariff, compute_fee
from billing.tariffs.schema import clock_minutes
from parking_core.clock import SHANGHAI
from tests.billing import EXAMPLES, example

FeeFn = Callable[..., int]
DAY = timedelta(days=1)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def rule_sets(draw) -> TariffRuleSet:
    """Valid rule sets: 1-4 periods tiling the day, per-unit or flat, with any mix of the optional rules."""
    starts = sorted(draw(st.sets(st.integers(0, 1439), min_size=1, max_size=4)))
    money = st.integers(0, 1500)
    first_unit = draw(st.sampled_from([15, 30, 60]))
    periods = []
    for i, start in enumerate(starts):
        period = {"label": f"p{i}", "start": hhmm(start), "end": hhmm(starts[(i + 1) % len(starts)])}
        if draw(st.booleans()) and draw(st.booleans()):
            period["flat_fen"] = draw(money)
        else:
            period["rate_fen"] = draw(money)
            period["unit_minutes"] = draw(st.none() | st.sampled_from([10, 15, 30, 45, 60, 120]))
            period["first_rate_fen"] = draw(st.none() | money)
        if draw(st.booleans()):
            period["large"] = {k: v + draw(st.integers(0, 500))
                               for k, v in period.items() if k.endswith("_fen") and v is not None}
        periods.append({k: v for k, v in period.items() if v is not None})
    has_first = any("first_rate_fen" in p for p in periods)
    cap = draw(st.none() | st.integers(0, 6000))
    data = {
        "id": "random", "version": 1, "name": "random",
        "unit_minutes": draw(st.sampled_from([5, 15, 20, 30, 60, 120])),
        "free_minutes": draw(st.sampled_from([0, 0, 10, 15, 30, 60])),
        "free_minutes_lost_if_longer": draw(st.booleans()),
        "first_window": {"minutes": first_unit * draw(st.integers(1, 4)), "unit_minutes": first_unit}
        if has_first else None,
        "periods": periods,
        "cap_fen": cap,
        "cap_mode": draw(st.sampled_from(["rolling_24h", "calendar_day"])),
        "large_multiplier_percent": draw(st.integers(100, 300)),
        "large_cap_fen": cap + draw(st.integers(0, 3000)) if cap is not None and draw(st.booleans()) else None,
        "new_energy": draw(st.none() | st.fixed_dictionaries({
            "discount_percent": st.integers(0, 100), "free_minutes": st.sampled_from([0, 30, 60, 120, 240])})),
    }
    return TariffRuleSet.model_validate({k: v for k, v in data.items() if v is not None})


EXAMPLE_RULES = [example(path.stem).rules for path in sorted(EXAMPLES.glob("*.json"))]
tariffs = st.one_of(st.sampled_from(EXAMPLE_RULES), rule_sets()).map(compile_tariff)
entries = st.integers(0, 10 * 365 * 86400).map(
    lambda s: datetime(2020, 1, 1, tzinfo=SHANGHAI) + timedelta(seconds=s))
stays = st.one_of(st.integers(0, 8 * 3600), st.integers(0, 4 * 86400), st.integers(0, 40 * 86400)).map(
    lambda s: timedelta(seconds=s))
vehicles = st.sampled_from(["small", "large"])


def engine_fee(tariff: CompiledTariff, entered: datetime, exited: datetime, vehicle="small", new_energy=False) -> int:
    return compute_fee(tariff, entered_at=entered, exited_at=exited, vehicle=vehicle, new_energy=new_energy).amount_fen


# ---- the properties, written against any fee function so that they can be run on a broken one ----

def longer_stay_never_costs_less(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    assert fee(t, entered, entered + stay, vehicle, nev) <= fee(t, entered, entered + stay + more, vehicle, nev)


def never_above_cap_per_started_window(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    cap = t.prices[vehicle].cap
    if cap is None:
        return
    exited = entered + stay
    if t.rules.cap_mode == "rolling_24h":
        windows = -(-stay // DAY)
    else:  # calendar days touched by [entered, exited)
        windows = ((exited - timedelta(seconds=1)).date() - entered.date()).days + 1 if stay else 0
    assert fee(t, entered, exited, vehicle, nev) <= cap * windows


def free_within_the_free_minutes(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    within = min(stay, timedelta(minutes=t.rules.free_minutes))
    assert fee(t, entered, entered + within, vehicle, nev) == 0


def large_never_below_small(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    assert fee(t, entered, entered + stay, "large", nev) >= fee(t, entered, entered + stay, "small", nev)


def new_energy_never_above_others(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    assert fee(t, entered, entered + stay, vehicle, True) <= fee(t, entered, entered + stay, vehicle, False)


def a_whole_number_of_fen(fee: FeeFn, t, entered, stay, more, vehicle, nev):
    amount = fee(t, entered, entered + stay, vehicle, nev)
    assert type(amount) is int and amount >= 0


PROPERTIES = [longer_stay_never_costs_less, never_above_cap_per_started_window, free_within_the_free_minutes,
              large_never_below_small, new_energy_never_above_others, a_whole_number_of_fen]


def run(check, fee: FeeFn, tariff_strategy=tariffs, **extra):
    @settings(PROPERTY, **extra)
    @given(tariff_strategy, entries, stays, stays, vehicles, st.booleans())
    def prop(t, entered, stay, more, vehicle, nev):
        check(fee, t, entered, stay, more, vehicle, nev)
    prop()


@pytest.mark.parametrize("check", PROPERTIES, ids=lambda c: c.__name__)
def test_property_holds(check):
    run(check, engine_fee)


# ---- each property fails on an engine with a matching bug ----

def _mutant(tariff: CompiledTariff, **attrs) -> CompiledTariff:
    mutant = copy.copy(tariff)
    for name, value in attrs.items():
        setattr(mutant, name, value)
    return mutant


def long_stay_rebate(t, entered, exited, vehicle="small", new_energy=False):
    """A 'loyalty' rebate of 1 fen on stays over 3 h: a longer stay can then cost less."""
    amount = engine_fee(t, entered, exited, vehicle, new_energy)
    return amount - 1 if amount and exited - entered > timedelta(hours=3) else amount


def cap_forgotten(t, entered, exited, vehicle="small", new_energy=False):
    prices = {name: _mutant(p, cap=None) for name, p in t.prices.items()}
    return engine_fee(_mutant(t, prices=prices), entered, exited, vehicle, new_energy)


def free_minutes_forgotten(t, entered, exited, vehicle="small", new_energy=False):
    return engine_fee(_mutant(t, free_s=0), entered, exited, vehicle, new_energy)


def classes_swapped(t, entered, exited, vehicle="small", new_energy=False):
    return engine_fee(t, entered, exited, "large" if vehicle == "small" else "small", new_energy)


def new_energy_surcharge(t, entered, exited, vehicle="small", new_energy=False):
    return engine_fee(_mutant(t, nev_keep_percent=120), entered, exited, vehicle, new_energy)


def money_as_yuan(t, entered, exited, vehicle="small", new_energy=False):
    return engine_fee(t, entered, exited, vehicle, new_energy) / 100


BROKEN = [
    (longer_stay_never_costs_less, long_stay_rebate),
    (never_above_cap_per_started_window, cap_forgotten),
    (free_within_the_free_minutes, free_minutes_forgotten),
    (large_never_below_small, classes_swapped),
    (new_energy_never_above_others, new_energy_surcharge),
    (a_whole_number_of_fen, money_as_yuan),
]


@pytest.mark.parametrize(("check", "broken"), BROKEN, ids=lambda f: f.__name__)
def test_property_catches_a_broken_engine(check, broken):
    with pytest.raises(AssertionError):
        # finding the bug is what is tested; shrinking the counterexample would only cost time
        run(check, broken, max_examples=500, database=None, print_blob=False, phases=(Phase.explicit, Phase.generate))


# ---- the engine against a plain unit-by-unit reading of the documented rule ----

def reference_fee(t: CompiledTariff, entered: datetime, exited: datetime, vehicle: str, nev: bool) -> int:
    """One unit at a time on aware Shanghai datetimes, straight from the rule set; slow and obvious."""
    r = t.rules
    if exited - entered <= timedelta(minutes=r.free_minutes):
        return 0
    start = entered if r.free_minutes_lost_if_longer else entered + timedelta(minutes=r.free_minutes)
    first_end = start + timedelta(minutes=r.first_window.minutes if r.first_window else 0)
    nev_end = entered + timedelta(minutes=r.new_energy.free_minutes if r.new_energy and nev else 0)
    windows: dict[object, int] = defaultdict(int)
    u = start
    while u < exited:
        minute = u.hour * 60 + u.minute
        period = next(p for p in r.periods if (minute - p.span[0]) % 1440 < p.span[1])
        if period.flat_fen is not None:
            price_name = "flat_fen"
            end = u.replace(hour=0, minute=0, second=0) + timedelta(minutes=clock_minutes(period.end))
            length = end - u if end > u else end + DAY - u
        elif period.first_rate_fen is not None and u < first_end:
            price_name, length = "first_rate_fen", timedelta(minutes=r.first_window.unit_minutes)
        else:
            price_name, length = "rate_fen", timedelta(minutes=period.unit_minutes or r.unit_minutes)
        price = getattr(period, price_name)
        if vehicle == "large":
            own = getattr(period.large, price_name) if period.large else None
            price = own if own is not None else price * r.large_multiplier_percent // 100
        window = u.date() if r.cap_mode == "calendar_day" else (u - entered) // DAY
        windows[window] += 0 if u < nev_end else price
        u += length
    cap = r.cap_fen
    if vehicle == "large" and cap is not None:
        cap = r.large_cap_fen if r.large_cap_fen is not None else cap * r.large_multiplier_percent // 100
    total = sum(v if cap is None else min(v, cap) for v in windows.values())
    if nev and r.new_energy:
        total = total * (100 - r.new_energy.discount_percent) // 100
    return total


# Unit boundaries fall on whole minutes after an entry: stays of whole minutes, a second either side, hit them.
on_the_minute = st.builds(lambda m, jitter: timedelta(seconds=max(0, m * 60 + jitter)),
                          st.one_of(st.integers(0, 600), st.integers(0, 10 * 1440)), st.sampled_from([-1, 0, 1]))
short_stays = st.one_of(st.integers(0, 8 * 3600).map(lambda s: timedelta(seconds=s)), on_the_minute)
round_entries = st.integers(0, 10 * 365 * 288).map(
    lambda n: datetime(2020, 1, 1, tzinfo=SHANGHAI) + timedelta(minutes=5 * n))


@settings(PROPERTY, max_examples=400)
@given(tariffs, entries | round_entries, short_stays, vehicles, st.booleans())
def test_engine_agrees_with_the_unit_by_unit_reference(t, entered, stay, vehicle, nev):
    exited = entered + stay
    assert engine_fee(t, entered, exited, vehicle, nev) == reference_fee(t, entered, exited, vehicle, nev)


@PROPERTY
@given(tariffs, entries, stays, vehicles, st.booleans(), st.booleans())
def test_receipt_lines_add_up_to_the_fee(t, entered, stay, vehicle, nev, covered):
    # the receipt walks every day; the fee jumps over repeating days: both must agree
    got = compute_fee(t, entered_at=entered, exited_at=entered + stay, vehicle=vehicle, new_energy=nev,
                      pass_covered=covered)
    lines = got.breakdown
    assert sum(line.fen for line in lines) == got.amount_fen
    assert all(line.start <= line.end and entered <= line.start and line.end <= entered + stay for line in lines)
