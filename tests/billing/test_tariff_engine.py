"""Worked examples: every expected fen value is computed by hand in the comment beside it."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from billing.tariffs import Fee, TariffRuleSet, compile_tariff, compute_fee
from parking_core.errors import InvalidInput
from tests.billing import at, example


def fee(stem: str, entered: datetime, exited: datetime, **kw) -> int:
    return compute_fee(example(stem), entered_at=entered, exited_at=exited, **kw).amount_fen


def rules(**overrides) -> TariffRuleSet:
    base = {
        "id": "t", "version": 1, "name": "test", "unit_minutes": 60,
        "periods": [{"label": "all day", "start": "00:00", "end": "00:00", "rate_fen": 150}],
    }
    return TariffRuleSet.model_validate(base | overrides)


# Suzhou-style: 30 free minutes kept, then 200 per started hour, cap 2000 per 24 h from entry,
# large x2 (cap 4000), new-energy half price.
@pytest.mark.parametrize(("entered", "exited", "expected"), [
    (at(1, 10), at(1, 10, 30), 0),              # 30 min: inside the free minutes
    (at(1, 10), at(1, 10, 31), 200),            # charged from 10:30, 1 min -> 1 started hour
    (at(1, 10), at(1, 12, 10), 400),            # 10:30-12:10 = 100 min -> 2 hours = 400
    (at(1, 10), at(1, 12, 30), 400),            # exactly 2 hours after 10:30 -> 2 units
    (at(1, 10), at(1, 12, 30, 1), 600),         # one second more starts a third unit
    (at(1, 10), at(2, 9), 2000),                # 10:30-09:00 = 22.5 h -> 23 units = 4600, capped 2000
    # windows from entry: [1st 10:00, 2nd 10:00) has units 10:30..09:30 = 24 -> 4800 -> 2000;
    # [2nd 10:00, 3rd 10:00) the same -> 2000; [3rd 10:00, 11:00) has the 10:30 unit -> 200. 4200 in all.
    (at(1, 10), at(3, 11), 4200),
    (at(1, 10), at(31, 10), 60000),             # 30 whole windows x 2000
    (at(1, 10), at(31, 10, 1), 60000),          # the 31st window's first unit starts at 10:30
    (at(1, 10), at(31, 10, 31), 60200),         # ... and here it has started
])
def test_suzhou_offstreet(entered, exited, expected):
    assert fee("suzhou_offstreet", entered, exited) == expected


def test_suzhou_large_and_new_energy():
    assert fee("suzhou_offstreet", at(1, 10), at(1, 12, 10), vehicle="large") == 800   # 2 units x 400
    assert fee("suzhou_offstreet", at(1, 10), at(2, 9), vehicle="large") == 4000       # 23 x 400 capped at 2 x 2000
    assert fee("suzhou_offstreet", at(1, 10), at(1, 13, 10), new_energy=True) == 300   # 3 units = 600, half = 300


# Beijing-style: 15-min units; 250 per unit in the stay's first hour by day, 375 after; night 19:00-07:00 is
# 100 per started 2 h.
@pytest.mark.parametrize(("entered", "exited", "expected"), [
    (at(1, 10), at(1, 10, 50), 1000),           # units 10:00, 10:15, 10:30, 10:45 in the first hour: 4 x 250
    (at(1, 10), at(1, 11, 1), 1375),            # + 11:00 at the later rate 375
    (at(1, 10), at(1, 12, 10), 2875),           # 1000 + 11:00..12:00 = 5 x 375 = 1875
    # 18:30, 18:45 first-hour day units = 500; night units from 19:00 every 2 h: 19, 21, 23, 1, 3, 5 = 600;
    # day again from 07:00 (first hour long over): 07:00..08:00 = 5 x 375 = 1875. 2975.
    (at(1, 18, 30), at(2, 8, 5), 2975),
    # the 18:50 unit starts by day (250) and runs to 19:05; the next starts at 19:05, at night: 100. 350.
    (at(1, 18, 50), at(1, 19, 20), 350),
    # a night unit started at 06:00 runs 2 h, to 08:00, at the night rate: 100.
    (at(1, 6), at(1, 7, 30), 100),
    (at(1, 6), at(1, 8, 1), 475),               # + the 08:00 day unit; the first hour ended at 07:00, so 375
])
def test_beijing_onstreet(entered, exited, expected):
    assert fee("beijing_onstreet", entered, exited) == expected


def test_beijing_large_pays_double():
    assert fee("beijing_onstreet", at(1, 10), at(1, 10, 50), vehicle="large") == 2000   # 4 x 500


# Nantong-style: 15 free minutes lost when longer; day 07:00-19:00 150 per started half hour; night flat 200;
# cap 3000 per calendar day; large x2; new-energy free for the first 2 hours.
@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), [
    (at(1, 10), at(1, 10, 15), {}, 0),                       # within 15 min
    (at(1, 10), at(1, 10, 16), {}, 150),                     # longer: charged from entry, 1 unit
    (at(1, 10), at(1, 12, 10), {}, 750),                     # 10:00, 10:30, 11:00, 11:30, 12:00 = 5 x 150
    (at(1, 18, 30), at(2, 8, 5), {}, 800),                   # 150 (18:30) + 200 (night) + 3 x 150 (07:00-08:00)
    (at(1, 10), at(1, 12, 10), {"vehicle": "large"}, 1500),  # 5 x 300
    (at(1, 10), at(1, 11, 59, 59), {"new_energy": True}, 0),  # every unit starts in the free 2 hours
    (at(1, 10), at(1, 12, 10), {"new_energy": True}, 150),   # only the 12:00 unit is charged
    # NEV free until 20:30: the 18:30 unit and the night (starting 19:00) are free; 07:00, 07:30, 08:00 = 450
    (at(1, 18, 30), at(2, 8, 5), {"new_energy": True}, 450),
    # calendar days: 1st: night unit from 06:00 (200) + 24 day units (3600) + the night from 19:00 (200) = 4000
    # -> 3000; 2nd: 24 day units + night = 3800 -> 3000. 6000.
    (at(1, 6), at(2, 23), {}, 6000),
])
def test_nantong_onstreet(entered, exited, kw, expected):
    assert fee("nantong_onstreet", entered, exited, **kw) == expected


# Shared (错时共享) lot: 15 free min lost when longer; 18:00-08:00 flat 300; office hours 500 per started hour.
@pytest.mark.parametrize(("entered", "exited", "expected"), [
    (at(1, 18), at(1, 18, 10), 0),              # free minutes
    (at(1, 18, 30), at(2, 7, 50), 300),         # one evening-and-night
    (at(1, 18, 30), at(2, 8, 5), 800),          # + the office-hours unit starting 08:00
    (at(1, 17, 30), at(1, 18, 10), 500),        # an office-hours unit starting 17:30 runs to 18:30
    (at(1, 17, 30), at(1, 18, 40), 800),        # the next unit starts 18:30 in shared hours: flat 300
    (at(1, 18, 30), at(2, 8), 300),             # leaving at 08:00 sharp starts no office-hours unit
    (at(1, 18, 30), at(2, 8, 0, 1), 800),       # one second later it has started
])
def test_shared_lot(entered, exited, expected):
    assert fee("tongzhou_shared_lot", entered, exited) == expected


# Residential pass lot: first hour by day 1000 (one 60-min unit), then 200 per half hour; night 22:00-07:00 100
# per started hour; cap 3000 per 24 h.
@pytest.mark.parametrize(("entered", "exited", "expected"), [
    (at(1, 10), at(1, 10, 50), 1000),           # first-hour block
    (at(1, 10), at(1, 12, 10), 1600),           # 1000 + 11:00, 11:30, 12:00 x 200
    (at(1, 21, 30), at(1, 23, 10), 1100),       # first hour 21:30-22:30 by day: 1000; 22:30 night unit: 100
    # night has no first-hour rate: 23:00..06:00 = 8 hourly night units = 800; 07:00 day unit = 200. 1000.
    (at(1, 23), at(2, 7, 20), 1000),
    # 1000 + 19:30..21:30 5 x 200 + 22:00..06:00 9 x 100 + 07:00, 07:30, 08:00 3 x 200 = 3500 -> cap 3000
    (at(1, 18, 30), at(2, 8, 5), 3000),
])
def test_residential_visitors(entered, exited, expected):
    assert fee("residential_monthly_pass", entered, exited) == expected


def test_monthly_pass_costs_nothing():
    assert fee("residential_monthly_pass", at(1, 8), at(3, 20), pass_covered=True) == 0


@pytest.mark.parametrize(("percent", "units", "expected"), [
    (50, 1, 75),     # 150 x 50 / 100
    (30, 1, 105),    # 150 x 70 / 100
    (33, 3, 301),    # 450 x 67 / 100 = 301.5, rounded down in the driver's favour
    (100, 5, 0),
])
def test_new_energy_discount_rounds_down(percent, units, expected):
    tariff = compile_tariff(rules(new_energy={"discount_percent": percent}))
    got = compute_fee(tariff, entered_at=at(1, 8), exited_at=at(1, 8 + units), new_energy=True)
    assert got.amount_fen == expected


def test_large_vehicle_own_rates_and_cap():
    tariff = compile_tariff(rules(
        periods=[{"label": "all day", "start": "00:00", "end": "00:00", "rate_fen": 150, "large": {"rate_fen": 400}}],
        cap_fen=1000, large_cap_fen=2500, large_multiplier_percent=300,
    ))
    assert compute_fee(tariff, entered_at=at(1, 8), exited_at=at(1, 10), vehicle="large").amount_fen == 800  # 2 x 400
    assert compute_fee(tariff, entered_at=at(1, 8), exited_at=at(1, 20), vehicle="large").amount_fen == 2500  # capped


def test_multiplier_rounds_down():
    tariff = compile_tariff(rules(large_multiplier_percent=150, periods=[
        {"label": "all day", "start": "00:00", "end": "00:00", "rate_fen": 125}]))
    assert compute_fee(tariff, entered_at=at(1, 8), exited_at=at(1, 9), vehicle="large").amount_fen == 187  # 187.5


def test_exit_at_entry_costs_nothing_and_before_entry_is_an_error():
    assert fee("suzhou_offstreet", at(1, 10), at(1, 10)) == 0
    with pytest.raises(InvalidInput) as err:
        fee("suzhou_offstreet", at(1, 10), at(1, 9, 59))
    assert err.value.field == "exited_at"
    assert "2024-05-01T09:59:00+08:00 is before entered_at 2024-05-01T10:00:00+08:00" in err.value.message


@pytest.mark.parametrize(("kw", "field", "text"), [
    ({"entered_at": datetime(2024, 5, 1, 10)}, "entered_at", "has no timezone"),
    ({"exited_at": "2024-05-01T12:00:00+08:00"}, "exited_at", "expected a datetime, got str"),
    ({"vehicle": "bus"}, "vehicle", "'bus' is not one of 'small', 'large'"),
])
def test_bad_arguments_name_the_field(kw, field, text):
    args = {"entered_at": at(1, 10), "exited_at": at(1, 12)} | kw
    with pytest.raises(InvalidInput) as err:
        compute_fee(example("suzhou_offstreet"), **args)
    assert err.value.field == field
    assert text in err.value.message


def test_times_in_other_zones_are_read_on_the_shanghai_wall_clock():
    # 02:00 UTC is 10:00 in Shanghai: the same four first-hour day units as test_beijing_onstreet
    entered = datetime(2024, 5, 1, 2, tzinfo=timezone.utc)
    assert fee("beijing_onstreet", entered, entered + timedelta(minutes=50)) == 1000


def test_wall_clock_before_1991_honours_shanghai_summer_time():
    # 1988-07-01 09:50 UTC is 18:50 on Shanghai's summer clock (+09:00): day unit 250 + night unit 100 = 350.
    # Read at +08:00 it would be 17:50-18:20, two first-hour day units = 500.
    entered = datetime(1988, 7, 1, 9, 50, tzinfo=timezone.utc)
    assert fee("beijing_onstreet", entered, entered + timedelta(minutes=30)) == 350


def test_fractions_of_a_second_are_dropped():
    # 10:00:00.9 to 11:00:00.2 is read as 10:00:00 to 11:00:00: one hour, one Beijing first-hour block of 4 units
    entered = at(1, 10).replace(microsecond=900_000)
    assert fee("beijing_onstreet", entered, at(1, 11).replace(microsecond=200_000)) == 1000


def test_a_rule_set_works_uncompiled_too():
    model = example("suzhou_offstreet").rules
    assert compute_fee(model, entered_at=at(1, 10), exited_at=at(1, 12, 10)).amount_fen == 400


def test_fee_is_frozen_and_names_its_tariff():
    got = compute_fee(example("nantong_onstreet"), entered_at=at(1, 10), exited_at=at(1, 12, 10))
    assert (got.tariff_id, got.tariff_version, got.entered_at, got.exited_at) == (
        "nantong-onstreet", 1, at(1, 10), at(1, 12, 10))
    assert isinstance(got, Fee)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.amount_fen = 0  # type: ignore[misc]


def test_breakdown_reads_like_a_receipt():
    got = compute_fee(example("suzhou_offstreet"), entered_at=at(1, 18, 30), exited_at=at(2, 8, 5))
    assert [tuple(line) for line in got.breakdown] == [
        ("first 30 min free", at(1, 18, 30), at(1, 19), 0, 0),
        ("all day", at(1, 19), at(2, 8, 5), 14, 2800),              # 19:00..07:00 started hours = 14
        ("cap 20.00 CNY per 24 h from entry", at(1, 18, 30), at(2, 8, 5), 0, -800),
    ]
    assert sum(line.fen for line in got.breakdown) == got.amount_fen == 2000


def test_breakdown_of_a_night_crossing_midnight_is_one_line():
    got = compute_fee(example("beijing_onstreet"), entered_at=at(1, 18, 30), exited_at=at(2, 8, 5))
    assert [(line.label, line.start, line.end, line.units, line.fen) for line in got.breakdown] == [
        ("day, first 60 min", at(1, 18, 30), at(1, 19), 2, 500),
        ("night", at(1, 19), at(2, 7), 6, 600),
        ("day", at(2, 7), at(2, 8, 5), 5, 1875),
    ]


def test_breakdown_shows_lost_free_minutes_and_new_energy_concessions():
    got = compute_fee(example("nantong_onstreet"), entered_at=at(1, 10), exited_at=at(1, 12, 10), new_energy=True)
    assert [(line.label, line.units, line.fen) for line in got.breakdown] == [
        ("no free 15 min: stay over 15 min", 0, 0),
        ("day, new-energy free", 4, 0),
        ("day", 1, 150),
    ]
    half = compute_fee(example("suzhou_offstreet"), entered_at=at(1, 10), exited_at=at(1, 13, 10), new_energy=True)
    assert [(line.label, line.fen) for line in half.breakdown][-1] == ("new-energy discount 50%", -300)


def test_a_unit_starting_just_before_the_24h_mark_counts_in_the_first_window():
    # 100 per hour from 10:00, flat 50 for 00:00-10:00, cap 1000 per 24 h from entry at 10:00:30.
    # Units start 10:00:30..23:00:30 (14 x 100); the 23:00:30 one runs to 00:00:30, the flat one to 10:00:00;
    # the next starts 10:00:00, 30 s before the first window closes: 1400 + 50 + 100 = 1550 -> 1000, nothing more.
    tariff = compile_tariff(rules(cap_fen=1000, periods=[
        {"label": "morning", "start": "00:00", "end": "10:00", "flat_fen": 50},
        {"label": "day", "start": "10:00", "end": "24:00", "rate_fen": 100},
    ]))
    got = compute_fee(tariff, entered_at=at(1, 10, 0, 30), exited_at=at(2, 10, 0, 40))
    assert got.amount_fen == 1000


def test_days_that_repeat_every_third_day():
    # 00:00-10:07 at 100 per 2 h, 10:07-24:00 at 10 per 45 min; calendar days; entry 00:07 on the 1st.
    # A day whose first unit starts at 00:07 has 2-hour units at 00:07..08:07 (5 = 500), 45-min units from
    # 10:07 to 23:37 (19 = 190), and its last unit runs to 00:22: 690. The next day starts at 00:22: 5 units to
    # 08:22, 45-min units 10:22..23:52 (19): 690, running to 00:37. Then 00:37: 5 units, 45-min units
    # 10:37..23:22 (18): 680, running to 00:07 - the first day again. 30 days = 10 x (690 + 690 + 680) = 20600;
    # one minute into the 31st day its 00:07 unit has started: + 100.
    tariff = compile_tariff(rules(cap_mode="calendar_day", periods=[
        {"label": "night", "start": "00:00", "end": "10:07", "unit_minutes": 120, "rate_fen": 100},
        {"label": "day", "start": "10:07", "end": "24:00", "unit_minutes": 45, "rate_fen": 10},
    ]))
    for exited, expected in ((at(31, 0), 20600), (at(31, 0, 8), 20700), (at(30, 23, 59), 20600)):
        got = compute_fee(tariff, entered_at=at(1, 0, 7), exited_at=exited)
        assert got.amount_fen == expected
        assert sum(line.fen for line in got.breakdown) == expected


def test_new_energy_free_time_past_midnight_does_not_repeat():
    # 100 per hour all day, calendar days, new-energy vehicles free for 2 h; entry 23:00 on the 1st.
    # 1st: the 23:00 unit is free: 0. 2nd: 00:00 free, 01:00..23:00 = 23 x 100 = 2300. 3rd and 4th: 24 units
    # = 2400 each. 5th until 23:00: 00:00..22:00 = 23 units = 2300. 9400 in all: the 2nd day is not the pattern.
    tariff = compile_tariff(rules(cap_mode="calendar_day", new_energy={"free_minutes": 120}, periods=[
        {"label": "all day", "start": "00:00", "end": "00:00", "rate_fen": 100}]))
    got = compute_fee(tariff, entered_at=at(1, 23), exited_at=at(5, 23), new_energy=True)
    assert got.amount_fen == 9400
