"""Nearby search in the directory: geodesic distances within 1 m, exact nearest-first order, few exact distances."""
from __future__ import annotations

import itertools
import random

from geographiclib.geodesic import Geodesic
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

import parking_core.directory as directory
from parking_core.directory import Directory, geodesic_m
from parking_core.lots import LotInfo


def _lot(i: int, lat: float, lon: float) -> LotInfo:
    return LotInfo(id=f"L{i:05d}", name=f"lot {i}", kind="off_street", operator="op", district="d", lat=lat, lon=lon, total=10)


def _around(lat: float, lon: float, n: int, max_m: float, seed: int) -> list[LotInfo]:
    """n lots at random bearings and distances up to max_m from a centre (as a city's car parks crowd its centre)."""
    rnd = random.Random(seed)
    lots = []
    for i in range(n):
        p = Geodesic.WGS84.Direct(lat, lon, rnd.uniform(0, 360), max_m * rnd.random() ** 1.5)
        lots.append(_lot(i, p["lat2"], (p["lon2"] + 180) % 360 - 180))
    return lots


def _brute(lots: list[LotInfo], lat: float, lon: float, radius_m: float) -> list[tuple[float, str]]:
    found = [(geodesic((lat, lon), (x.lat, x.lon)).meters, x.id) for x in lots]
    return sorted((d, i) for d, i in found if d <= radius_m)


@settings(max_examples=400, deadline=None)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), azimuth=st.floats(0, 360),
       distance=st.one_of(st.floats(0, 60_000), st.floats(0, 20_000_000)))
def test_distance_is_the_wgs84_geodesic_within_a_tenth_of_a_metre(lat, lon, azimuth, distance):
    p = Geodesic.WGS84.Direct(lat, lon, azimuth, distance)
    lat2, lon2 = p["lat2"], (p["lon2"] + 180) % 360 - 180
    assert abs(geodesic_m(lat, lon, lat2, lon2) - geodesic((lat, lon), (lat2, lon2)).meters) < 0.1


def test_nearest_and_within_give_the_geodesic_order_and_set_anywhere_on_earth():
    # a dense city centre, a city near the Arctic circle's edge of the fast path, one astride the antimeridian, one near a pole
    for (clat, clon), seed in zip([(31.30, 120.60), (69.8, 18.9), (-16.5, 179.99), (78.2, 15.6), (0.0, 0.0)], itertools.count()):
        lots = _around(clat, clon, 600, 12_000, seed)
        d = Directory(lots)
        rnd = random.Random(seed)
        for _ in range(15):
            p = Geodesic.WGS84.Direct(clat, clon, rnd.uniform(0, 360), rnd.uniform(0, 8_000))
            lat, lon = p["lat2"], (p["lon2"] + 180) % 360 - 180
            for radius in (0, 150, 1_000, 5_000, 60_000):
                got = [(dist, info.id) for dist, info in d.nearest(lat, lon, radius)]
                want = _brute(lots, lat, lon, radius)
                assert [i for _, i in got] == [i for _, i in want], (clat, clon, lat, lon, radius)
                assert all(abs(a - b) < 0.1 for (a, _), (b, _) in zip(got, want))
                # guidance's search (every lot in the walk) skips lots surely outside before measuring: the same set
                assert [info.id for _, info in d.within(lat, lon, radius)] == [i for _, i in want], (clat, clon, lat, lon, radius)


def test_within_returns_every_lot_in_the_radius_nearest_first():
    lots = _around(31.3, 120.6, 400, 6_000, 7)
    d = Directory(lots)
    assert [(round(x, 3), info.id) for x, info in d.within(31.301, 120.599, 2_500)] == \
        [(round(x, 3), i) for x, i in _brute(lots, 31.301, 120.599, 2_500)]


def test_taking_twenty_of_a_dense_centre_computes_about_twenty_exact_distances(monkeypatch):
    lots = _around(31.3, 120.6, 3_000, 5_000, 3)
    d = Directory(lots)
    calls = []
    real = directory.geodesic_m
    monkeypatch.setattr(directory, "geodesic_m", lambda *a: calls.append(a) or real(*a))
    first = list(itertools.islice(d.nearest(31.3, 120.6, 5_000), 20))
    inside = len(_brute(lots, 31.3, 120.6, 5_000))
    assert len(first) == 20 and inside > 1_000
    assert len(calls) <= 40  # not one per lot in the radius
    assert [i.id for _, i in first] == [i for _, i in _brute(lots, 31.3, 120.6, 5_000)[:20]]


def test_a_replaced_registry_is_searched_afresh():
    d = Directory([_lot(1, 31.3, 120.6)])
    d.replace([_lot(2, 31.3001, 120.6)])
    assert [info.id for _, info in d.nearest(31.3, 120.6, 100)] == ["L00002"]
