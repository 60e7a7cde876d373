"""The simulated city is a valid registry with a realistic mix laid on real streets and places, the same for the same seed."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from parking_core.lots import SharedHours
from parking_core.places import Gazetteer
from parking_core.registry import parse_registry
from sensors.simulator import city_summary, generate_city
from sensors.simulator.city import CENTRE, MAX_RADIUS_M

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
    assert max(d) <= MAX_RADIUS_M / 1000 + 0.01
    inner = sum(x < 3 for x in d) / (math.pi * 3**2)
    outer = sum(9 <= x < 12 for x in d) / (math.pi * (12**2 - 9**2))
    assert inner > 10 * outer


def test_deterministic_per_seed():
    assert generate_city(200, seed=7) == generate_city(200, seed=7)
    assert generate_city(200, seed=7) != generate_city(200, seed=8)


def _metres(a, b):
    return math.hypot((a[0] - b[0]) * 111_320, (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0])))


def _to_line(p, line):
    """Metres from p to a polyline, flat-earth: exact enough over a few kilometres."""
    k = math.cos(math.radians(p[0]))
    best = math.inf
    for a, b in zip(line, line[1:]):
        ax, ay, bx, by = a[1] * k, a[0], b[1] * k, b[0]
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((p[1] * k - ax) * dx + (p[0] - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, _metres(p, (ay + t * dy, (ax + t * dx) / k)))
    return best


def test_no_name_is_given_twice(city):
    names = Counter(f["properties"]["name"] for f in city["features"])
    assert names.most_common(1)[0][1] == 1


def test_street_berths_line_the_street_they_are_named_after(city):
    streets = {p.name: p.line for p in Gazetteer.load().streets("苏州")}
    on_street = [f for f in city["features"] if f["properties"]["kind"] == "on_street"]
    for f in on_street:
        street = f["properties"]["name"].split("路内泊位")[0]
        lon, lat = f["geometry"]["coordinates"]
        assert _to_line((lat, lon), streets[street]) < 30, f["properties"]["name"]
    assert len({f["properties"]["name"].split("路内泊位")[0] for f in on_street}) > 30  # many streets, not a few


def test_car_parks_sit_by_places_and_streets_not_in_a_disc(city):
    g = Gazetteer.load()
    places = [(p.lat, p.lon) for p in g.places if p.kind != "street" and p.city == "苏州"]
    lines = [p.line for p in g.streets("苏州")]
    near = 0
    car_parks = [f for f in city["features"] if f["properties"]["kind"] == "off_street"]
    for f in car_parks[:600]:
        lon, lat = f["geometry"]["coordinates"]
        if min(_metres((lat, lon), q) for q in places) < 1_600 or min(_to_line((lat, lon), line) for line in lines) < 300:
            near += 1
    assert near / min(600, len(car_parks)) > 0.97


def test_a_places_car_parks_are_in_its_district():
    city = generate_city(1500, seed=5)
    by_name = {f["properties"]["name"]: f["properties"]["district"] for f in city["features"]}
    assert by_name.get("拙政园停车场", "gusu") == "gusu"
    districts_of = {}
    for name, district in by_name.items():
        for landmark in ("金鸡湖", "苏州站", "寒山寺", "独墅湖", "同里古镇"):
            if name.startswith(landmark):
                districts_of.setdefault(landmark, set()).add(district)
    assert districts_of and all(len(d) == 1 for d in districts_of.values()), districts_of


def test_centre_moves_the_whole_city():
    here = generate_city(50, seed=2)
    there = generate_city(50, seed=2, centre=(32.0, 121.0))
    for a, b in zip(here["features"], there["features"]):
        (_, lat1), (_, lat2) = a["geometry"]["coordinates"], b["geometry"]["coordinates"]
        assert abs((lat2 - lat1) - (32.0 - CENTRE[0])) < 1e-5 and a["properties"] == b["properties"]
