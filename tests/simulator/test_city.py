"""The simulated city is a valid registry with a realistic mix, the same for the same seed."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from parking_core.lots import SharedHours
from parking_core.registry import parse_registry
from sensors.simulator import city_summary, generate_city
from sensors.simulator.city import CENTRE

SUZHOU_DISTRICTS = {"gusu", "sip", "huqiu", "wuzhong", "xiangcheng", "wujiang"}


@pytest.fixture(scope="module")
def city():
    return generate_city(3300)


def test_the_registry_parser_accepts_it(city):
    lots = parse_registry(city)
    assert len(lots) == 3300
    assert len({lot.id for lot in lots}) == 3300


def test_mix_of_street_gated_and_counting_lots(city):
    s = city_summary(city)
    assert 0.40 < s["on_street"] / s["lots"] < 0.50
    assert 0.45 < s["gated"] / s["lots"] < 0.55
    assert 0.03 < s["counting"] / s["lots"] < 0.07
    assert 200_000 < s["spaces"] < 450_000
    assert 70_000 <= s["sensor_berths"] <= 100_000
    assert s["shared_hours"] > 20


def test_lot_shapes(city):
    for f in city["features"]:
        p = f["properties"]
        if p["kind"] == "on_street":
            assert 10 <= len(p["berths"]) <= 120 and p["total"] == len(p["berths"])
            assert "路" in p["name"]
        else:
            assert "berths" not in p and 50 <= p["total"] <= 1500
        if "shared_hours" in p:
            SharedHours.parse(p["shared_hours"])


def test_operators_districts_and_tariffs(city):
    props = [f["properties"] for f in city["features"]]
    assert {p["district"] for p in props} == SUZHOU_DISTRICTS
    ops = {p["operator"] for p in props}
    assert len(ops) > 10 and all(o.startswith("op-") for o in ops)
    tariffs = Counter(p.get("tariff") for p in props)
    assert tariffs["suzhou-offstreet"] > 0 and tariffs[None] > 0
    from billing.tariffs.catalog import load_tariff_catalog

    assert set(tariffs) - {None} <= set(load_tariff_catalog())  # every simulated stay can be priced
    assert any(t and "onstreet" in t for t in tariffs)


def test_denser_near_the_centre(city):
    def km(f):
        lon, lat = f["geometry"]["coordinates"]
        return math.hypot((lat - CENTRE[0]) * 111.32, (lon - CENTRE[1]) * 111.32 * math.cos(math.radians(CENTRE[0])))

    d = [km(f) for f in city["features"]]
    assert max(d) <= 12.01
    inner = sum(x < 3 for x in d) / (math.pi * 3**2)
    outer = sum(9 <= x < 12 for x in d) / (math.pi * (12**2 - 9**2))
    assert inner > 10 * outer


def test_deterministic_per_seed():
    assert generate_city(200, seed=7) == generate_city(200, seed=7)
    assert generate_city(200, seed=7) != generate_city(200, seed=8)
