"""The five rules format 1 could not say, each in the words of the issue, priced both ways where format 1 can
try; and what the receipt shows. Fees are computed by hand in the comments."""
from __future__ import annotations

import pytest

from billing.tariffs import TariffRuleSet, compile_tariff, compute_fee
from tests.billing import at

DAY_NIGHT = [
    {"label": "day", "start": "08:00", "end": "20:00", "rate_fen": 200},
    {"label": "night", "start": "20:00", "end": "08:00", "unit_minutes": 60, "rate_fen": 100},
]


def tariff(fmt: int = 2, **over):
    data = {"id": "t", "version": 1, "name": "t", "unit_minutes": 30, "periods": DAY_NIGHT} | over
    if fmt == 2:
        data["format"] = 2
    return compile_tariff(TariffRuleSet.model_validate(data))


def fee(t, entered, exited, **kw) -> int:
    return compute_fee(t, entered_at=entered, exited_at=exited, **kw).amount_fen


def lines(t, entered, exited, **kw) -> list[tuple]:
    return [(b.label, b.start, b.end, b.units, b.fen) for b in
            compute_fee(t, entered_at=entered, exited_at=exited, **kw).breakdown]


RESTART = [dict(p, restart_units=True) for p in DAY_NIGHT]


def test_1_units_restart_at_a_period_boundary():
    old, new = tariff(1), tariff(periods=RESTART)
    # format 1: the 19:50 half hour runs to 20:20 at the day price: 200. Format 2: 19:50-20:00 day (200),
    # 20:00-20:15 a started night hour (100).
    assert (fee(old, at(1, 19, 50), at(1, 20, 15)), fee(new, at(1, 19, 50), at(1, 20, 15))) == (200, 300)
    # format 1: the night hour from 07:20 covers 08:00-08:20 at the night price: 100. Format 2: night 07:20-08:00
    # (100) and the 08:00 day half hour (200).
    assert (fee(old, at(1, 7, 20), at(1, 8, 20)), fee(new, at(1, 7, 20), at(1, 8, 20))) == (100, 300)
    assert lines(new, at(1, 19, 50), at(1, 20, 15)) == [
        ("day", at(1, 19, 50), at(1, 20), 1, 200), ("night", at(1, 20), at(1, 20, 15), 1, 100)]


def test_restart_on_one_side_splits_the_boundary_too():
    # only the night restarts: a day unit is still cut where the night starts
    one_side = tariff(periods=[DAY_NIGHT[0], RESTART[1]])
    assert fee(one_side, at(1, 19, 50), at(1, 20, 15)) == 300


def test_2_a_cap_per_night():
    capped = [DAY_NIGHT[0], dict(DAY_NIGHT[1], occurrence_cap_fen=500)]
    t = tariff(periods=capped)
    assert fee(t, at(1, 20), at(2, 8)) == 500               # 12 started hours = 1200 -> 500
    assert fee(t, at(1, 20), at(1, 23)) == 300              # under the cap
    # two nights and the day between: 500 + 24 x 200 + 500 = 5800
    assert fee(t, at(1, 20), at(3, 8)) == 5800
    assert fee(t, at(1, 20), at(2, 8), vehicle="large") == 500  # multiplier 100: the same
    got = lines(t, at(1, 20), at(2, 8))
    assert got == [("night", at(1, 20), at(2, 8), 12, 1200), ("night cap 5.00 CNY", at(1, 20), at(2, 8), 0, -700)]


def test_3_the_first_hour_again_in_each_24_hours():
    one = [{"label": "all day", "start": "00:00", "end": "24:00", "rate_fen": 100, "first_rate_fen": 400}]
    per_stay = tariff(unit_minutes=60, periods=one, first_window={"minutes": 60, "unit_minutes": 60})
    per_24h = tariff(unit_minutes=60, periods=one, first_window={"minutes": 60, "unit_minutes": 60,
                                                                 "per": "rolling_24h"})
    per_day = tariff(unit_minutes=60, periods=one, first_window={"minutes": 60, "unit_minutes": 60,
                                                                 "per": "calendar_day"})
    # 10:00 to 11:30 next day: 400 + 23 x 100 + the second 24 h: 400 + 100 = 3200; once per stay: 400 + 24 x 100
    assert fee(per_24h, at(1, 10), at(2, 11, 30)) == 3200
    assert fee(per_stay, at(1, 10), at(2, 11, 30)) == 2900
    # per calendar day: 10:00 first hour 400, 11:00..23:00 13 x 100, 00:00 first hour 400, 01:00..11:00 11 x 100
    assert fee(per_day, at(1, 10), at(2, 11, 30)) == 3200
    assert fee(per_day, at(1, 22), at(2, 1)) == 900         # 22:00 400, 23:00 100, 00:00 400
    got = lines(per_24h, at(1, 10), at(2, 11, 30))
    assert [(label, fen) for label, *_, fen in got] == [
        ("24 h #1: all day, first 60 min", 400), ("24 h #1: all day", 2300),
        ("24 h #2: all day, first 60 min", 400), ("24 h #2: all day", 100)]


def test_4_hours_counted_on_chargeable_time_only():
    day_only = [{"label": "day", "start": "08:00", "end": "20:00", "rate_fen": 200, "first_rate_fen": 500},
                {"label": "night", "start": "20:00", "end": "08:00", "rate_fen": 0}]
    clock = tariff(unit_minutes=60, periods=day_only, first_window={"minutes": 60, "unit_minutes": 60})
    chargeable = tariff(unit_minutes=60, periods=day_only, first_window={"minutes": 60, "unit_minutes": 60},
                        counting="chargeable_time")
    # 19:30 to 08:40: chargeable 30 + 40 minutes. The first hour is 19:30-20:00 and 08:00-08:30 (500); the hour
    # from 08:30 has started (200): 700.
    assert fee(chargeable, at(1, 19, 30), at(2, 8, 40)) == 700
    # 07:30 to 08:40: by the clock the first hour is 07:30-08:30, spent in a free night hour (0), then the 08:30
    # day hour (200); counting chargeable time the first hour starts at 08:00 (500).
    assert (fee(clock, at(1, 7, 30), at(1, 8, 40)), fee(chargeable, at(1, 7, 30), at(1, 8, 40))) == (200, 500)
    assert fee(chargeable, at(1, 19, 30), at(2, 8, 30)) == 500  # exactly the first hour's 60 chargeable minutes
    assert fee(chargeable, at(1, 20), at(2, 8)) == 0            # twelve hours, none chargeable
    # the receipt shows where the first hour went on in the morning, at no charge of its own
    assert lines(chargeable, at(1, 19, 30), at(2, 8, 40)) == [
        ("day, first 60 min", at(1, 19, 30), at(1, 20), 1, 500),
        ("day, first 60 min (continued)", at(2, 8), at(2, 8, 30), 0, 0),
        ("day", at(2, 8, 30), at(2, 8, 40), 1, 200)]


def test_5_new_energy_free_time_comes_before_the_first_hour():
    one = [{"label": "all day", "start": "00:00", "end": "24:00", "rate_fen": 200, "first_rate_fen": 500}]
    common = dict(unit_minutes=60, periods=one, first_window={"minutes": 60, "unit_minutes": 60},
                  new_energy={"free_minutes": 120})
    old = tariff(1, **common)
    new = tariff(**common)  # default order: free minutes, new-energy time, first window
    # format 1: the free 2 h consume the first hour: 10:00-12:00 free, then 12:00 at 200. Format 2: the first paid
    # hour 12:00 costs the first-hour price 500.
    assert (fee(old, at(1, 10), at(1, 12, 30), new_energy=True), fee(new, at(1, 10), at(1, 12, 30),
                                                                       new_energy=True)) == (200, 500)
    assert fee(new, at(1, 10), at(1, 12), new_energy=True) == 0
    assert fee(new, at(1, 10), at(1, 12, 1), new_energy=True) == 500
    # free minutes first, then the new-energy time: 30 + 120 min free, the first hour from 12:30
    both = tariff(free_minutes=30, **common)
    assert fee(both, at(1, 10), at(1, 12, 30), new_energy=True) == 0
    assert fee(both, at(1, 10), at(1, 13, 31), new_energy=True) == 700   # 12:30 first hour 500, 13:30 200
    assert fee(both, at(1, 10), at(1, 13, 31)) == 500 + 3 * 200           # others: 4 started hours from 10:30
    # allowances not listed run from the entry, together with the first window: the free time consumes the first
    # hour as in format 1, and the 12:00 hour is at the normal price
    together = tariff(free_minutes=30, allowance_order=["first_window"], **common)
    assert fee(together, at(1, 10), at(1, 12, 1), new_energy=True) == 200


def test_6_receipts_show_each_window_each_cap_and_fit_40_characters():
    long = "白天 day rate for a Class-1 street, high season"[:40]
    t = tariff(cap_fen=2000, cap_mode="calendar_day", periods=[
        DAY_NIGHT[0] | {"restart_units": True, "label": long},
        DAY_NIGHT[1] | {"restart_units": True, "occurrence_cap_fen": 500}])
    got = compute_fee(t, entered_at=at(1, 18), exited_at=at(2, 9)).breakdown
    assert all(len(b.label) <= 40 for b in got)
    assert sum(b.fen for b in got) == compute_fee(t, entered_at=at(1, 18), exited_at=at(2, 9)).amount_fen
    # 1st: day 18:00-20:00 4 x 200 = 800, night 20:00-24:00 400; 2nd: night 00:00-08:00 8 x 100 -> the night's
    # cap leaves 100; day 08:00-09:00 2 x 200 = 400. 800 + 400 + 100 + 400 = 1700.
    assert [(b.label, b.fen) for b in got] == [
        ("05-01: 白天 day rate for a Class-1 street…", 800),
        ("05-01: night", 400),
        ("05-02: night", 800),
        ("05-02: 白天 day rate for a Class-1 street…", 400),
        ("night cap 5.00 CNY", -700),                       # deductions after the charges, one per cap applied
    ]
    # every priced line lies inside one period: none crosses 08:00 or 20:00
    for b in got:
        if b.units:
            assert not (b.start < b.start.replace(hour=20, minute=0) < b.end)
            assert not (b.start < b.start.replace(hour=8, minute=0) < b.end)


@pytest.mark.parametrize("field", ["counting", "allowance_order"])
def test_format_2_fields_in_a_format_1_rule_set_are_rejected(field):
    from billing.tariffs import load_tariff
    from parking_core.errors import InvalidInput
    value = {"counting": "chargeable_time", "allowance_order": ["new_energy"]}[field]
    with pytest.raises(InvalidInput) as err:
        load_tariff({"id": "t", "version": 1, "name": "t", "unit_minutes": 30, "periods": DAY_NIGHT, field: value})
    assert err.value.field == field and "needs \"format\": 2" in err.value.message and "(tariff 't')" in err.value.message
