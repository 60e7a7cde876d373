"""Worked stays for the format-2 examples: each fee computed by hand from the text in the example's `notes`
(May 2024, Shanghai wall clock; the arithmetic is in the comment beside each case)."""
from __future__ import annotations

import pytest

from billing.tariffs import compute_fee
from tests.billing import at, example


def fee(stem: str, entered, exited, **kw) -> int:
    return compute_fee(example(stem), entered_at=entered, exited_at=exited, **kw).amount_fen


# Suzhou on-street, class 1: day 08-20 first hour 2.00 per half hour then 3.00; night 1.00 per started hour,
# at most 5.00 per night; split at 08:00 and 20:00; 15 free minutes lost when longer; large x2.
SUZHOU_1 = [
    (at(1, 10), at(1, 10, 15), {}, 0),                        # exactly the 15 free minutes
    (at(1, 10), at(1, 10, 16), {}, 200),                      # one minute past: one first-hour half hour
    (at(1, 10), at(1, 11), {}, 400),                          # the first hour: 2 x 200
    (at(1, 10), at(1, 11, 1), {}, 700),                       # + 11:00 half hour at 300
    # 19:50-20:00 is a day part of its own (first-hour half hour 200), 20:00-20:15 a started night hour (100);
    # format 1 would have run the 19:50 half hour to 20:20 at the day price and charged nothing else.
    (at(1, 19, 50), at(1, 20, 15), {}, 300),
    # the night hour from 07:20 is cut at 08:00 (100); the day restarts at 08:00, still in the first hour (200)
    (at(1, 7, 20), at(1, 8, 20), {}, 300),
    # across midnight: 18:00, 18:30 first hour 400; 19:00, 19:30 = 600; night 12 h = 1200 -> per-night cap 500;
    # 08:00, 08:30 = 600. 2100.
    (at(1, 18), at(2, 9), {}, 2100),
    # two days: 10:00, 10:30 first hour 400; 11:00..19:30 18 x 300 = 5400; night 500; 2nd day 24 x 300 = 7200;
    # night 500; 3rd 08:00..09:30 4 x 300 = 1200. 15200.
    (at(1, 10), at(3, 10), {}, 15200),
    (at(1, 10), at(1, 11, 1), {"vehicle": "large"}, 1400),  # 2 x 400 + 600
    (at(1, 21), at(2, 7), {"vehicle": "large"}, 1000),      # 10 night hours x 200 = 2000, large cap 2 x 500
]
# class 2: first hour 1.50 per half hour, then 2.00; night as class 1
SUZHOU_2 = [
    (at(1, 10), at(1, 12), {}, 700),                          # 2 x 150 + 2 x 200
    (at(1, 23), at(2, 6), {}, 500),                           # 7 night hours = 700 -> 500 per night
    (at(1, 19, 40), at(1, 20), {}, 150),                      # 20 min, all day: one first-hour half hour
    (at(1, 19, 40), at(1, 20, 1), {}, 250),                   # + a started night hour
]
# class 3: day 1.00 per half hour, no first-hour price; night 1.00 per hour, at most 3.00 per night
SUZHOU_3 = [
    (at(1, 8), at(1, 12), {}, 800),                           # 8 half hours x 100
    (at(1, 20), at(2, 8), {}, 300),                           # 12 night hours = 1200 -> 300
    (at(1, 20), at(3, 8), {}, 3000),                          # night 300 + day 24 x 100 + night 300
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), SUZHOU_1)
def test_suzhou_onstreet_class1(entered, exited, kw, expected):
    assert fee("suzhou_onstreet_class1", entered, exited, **kw) == expected


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), SUZHOU_2)
def test_suzhou_onstreet_class2(entered, exited, kw, expected):
    assert fee("suzhou_onstreet_class2", entered, exited, **kw) == expected


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), SUZHOU_3)
def test_suzhou_onstreet_class3(entered, exited, kw, expected):
    assert fee("suzhou_onstreet_class3", entered, exited, **kw) == expected


# Suzhou off-street: 30 free minutes lost when longer; in each 24 h from arrival the first hour 4.00, each further
# started hour 1.00, at most 15.00 per 24 h; large x2.
SUZHOU_OFF = [
    (at(1, 10), at(1, 10, 30), {}, 0),                        # exactly the free 30 minutes
    (at(1, 10), at(1, 10, 31), {}, 400),                      # one minute past: the first hour
    (at(1, 10), at(1, 12), {}, 500),                          # 400 + 100
    (at(1, 10), at(1, 13, 1), {}, 700),                       # 400 + 3 x 100
    (at(1, 22), at(2, 1), {}, 600),                           # across midnight: 400 + 2 x 100
    (at(1, 10), at(2, 10), {}, 1500),                         # 400 + 23 x 100 = 2700 -> 1500
    (at(1, 10), at(2, 11), {}, 1900),                         # + the second 24 h's own first hour 400
    (at(1, 10), at(3, 10), {}, 3000),                         # two whole capped windows
    (at(1, 10), at(1, 12), {"vehicle": "large"}, 1000),      # 800 + 200
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), SUZHOU_OFF)
def test_suzhou_offstreet_first_hour_per_24h(entered, exited, kw, expected):
    assert fee("suzhou_offstreet_first_hour", entered, exited, **kw) == expected


# Nantong on-street berths: charged 07-19 only, chargeable minutes add up across the free night; 15 free minutes
# lost when longer; first chargeable hour 3.00, then 1.00 per started half hour; large x2.
NANTONG = [
    (at(1, 10), at(1, 10, 15), {}, 0),                        # exactly the 15 free minutes
    (at(1, 10), at(1, 10, 16), {}, 300),                      # one minute past: the first hour
    (at(1, 10), at(1, 11, 30), {}, 400),                      # 300 + the 11:00 half hour
    (at(1, 18, 50), at(2, 7, 10), {}, 300),                   # 10 + 10 chargeable minutes: the first hour
    # 30 chargeable minutes by 19:00, the first hour completes at 07:30; the 07:30 half hour: 300 + 100
    (at(1, 18, 30), at(2, 7, 45), {}, 400),
    (at(1, 20), at(2, 6), {}, 0),                             # ten hours, none chargeable
    (at(1, 6, 30), at(1, 7, 30), {}, 300),                    # the 30 minutes from 07:00 start the first hour
    # large: first hour 18:00-19:00 = 600; 07:00, 07:30 half hours 2 x 200
    (at(1, 18), at(2, 8), {"vehicle": "large"}, 1000),
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), NANTONG)
def test_nantong_onstreet_chargeable_time(entered, exited, kw, expected):
    assert fee("nantong_onstreet_berths", entered, exited, **kw) == expected


# Hangzhou road, class 1: 30 free minutes lost when longer; day 07-21 first hour 5.00 then 3.00 per started half
# hour; night 5.00 per night; split at 07:00 and 21:00; large x2.
HANGZHOU = [
    (at(1, 10), at(1, 10, 30), {}, 0),                        # exactly the free 30 minutes
    (at(1, 10), at(1, 10, 31), {}, 500),                      # the first hour
    (at(1, 10), at(1, 12), {}, 1100),                         # 500 + 2 x 300
    (at(1, 20, 30), at(1, 21, 10), {}, 1000),                 # the first hour cut at 21:00 (500) + a night (500)
    (at(1, 21, 30), at(2, 7, 20), {}, 800),                   # night 500 + the 07:00 half hour 300
    (at(1, 10), at(1, 12), {"vehicle": "large"}, 2200),      # 1000 + 2 x 600
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), HANGZHOU)
def test_hangzhou_road(entered, exited, kw, expected):
    assert fee("hangzhou_road", entered, exited, **kw) == expected


# New-energy policy: new-energy vehicles free for their first 2 h, then the first-hour price 5.00 for the first paid
# hour and 2.00 per started hour after it; others: 15 free minutes lost when longer; 30.00 per 24 h at most.
NEV = [
    (at(1, 10), at(1, 12), {"new_energy": True}, 0),          # exactly the 2 free hours
    (at(1, 10), at(1, 12, 1), {"new_energy": True}, 500),     # one minute past: the first paid hour at 5.00
    (at(1, 10), at(1, 13, 1), {"new_energy": True}, 700),     # 500 + 200
    (at(1, 10), at(1, 12, 1), {}, 900),                       # not new-energy: 500 + 2 x 200
    (at(1, 10), at(1, 10, 15), {}, 0),                        # exactly the 15 free minutes
    (at(1, 10), at(1, 10, 16), {}, 500),                      # one minute past
    (at(1, 22), at(2, 3), {"new_energy": True}, 900),         # free to 00:00, 500 + 2 x 200
    # free to 12:00, 500 + 21 x 200 = 4700 by 10:00 next day -> 3000
    (at(1, 10), at(2, 10), {"new_energy": True}, 3000),
    (at(1, 10), at(1, 12, 1), {"new_energy": True, "vehicle": "large"}, 500),  # no large prices in the text
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), NEV)
def test_new_energy_free_first_hours(entered, exited, kw, expected):
    assert fee("new_energy_free_first_hours", entered, exited, **kw) == expected


# Residential night pass: holders free 20-08; visitors: 30 free minutes lost when longer, day 2.00 per started hour,
# night 1.00 per started hour at most 5.00 per night, split at 08:00 and 20:00, at most 20.00 per 24 h.
RESIDENTIAL = [
    (at(1, 20, 30), at(2, 7, 50), {"pass_covered": True}, 0),   # the whole stay in pass hours
    (at(1, 19), at(2, 9), {"pass_covered": True}, 400),          # 19:00 and 08:00 day hours
    (at(1, 19), at(2, 9), {}, 900),                              # visitor: 200 + night 1200 -> 500 + 200
    (at(1, 20), at(1, 20, 30), {}, 0),                           # exactly the 30 free minutes
    (at(1, 20), at(1, 20, 31), {}, 100),                         # one minute past: a night hour
    (at(1, 7, 30), at(1, 8, 40), {"pass_covered": True}, 200),   # night free for the holder; the 08:00 hour
    (at(1, 8), at(2, 8), {}, 2000),                              # 12 x 200 + 500 = 2900 -> 2000 per 24 h
]


@pytest.mark.parametrize(("entered", "exited", "kw", "expected"), RESIDENTIAL)
def test_residential_night_pass(entered, exited, kw, expected):
    assert fee("residential_night_pass", entered, exited, **kw) == expected


def test_there_are_at_least_forty_worked_stays():
    cases = SUZHOU_1 + SUZHOU_2 + SUZHOU_3 + SUZHOU_OFF + NANTONG + HANGZHOU + NEV + RESIDENTIAL
    assert len(cases) >= 40
    assert any(kw.get("vehicle") == "large" for *_, kw, _ in cases)
    assert any(kw.get("new_energy") for *_, kw, _ in cases)
    assert any(e.date() != x.date() for e, x, *_ in cases)
