"""Coordinate conversion against published reference points, and round trips everywhere in China.

Reference pairs: eviltransform's test table (googollee/eviltransform, WGS-84 -> GCJ-02 in Shanghai,
Shenzhen and Beijing) and coordtransform's documented results for (39.915, 116.404)
(wandergis/coordtransform, test/app.js: GCJ-02 <-> BD-09 and WGS-84 -> GCJ-02).
"""
from __future__ import annotations

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_core.coords import SYSTEMS, convert, from_wgs84, in_china, to_wgs84

EVILTRANSFORM = [  # wgs lat, wgs lon, gcj lat, gcj lon
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
COORDTRANSFORM = (39.915, 116.404)
COORDTRANSFORM_RESULTS = {  # (source, target): (lat, lon)
    ("gcj02", "bd09"): (39.92133699351021, 116.41036949371029),
    ("bd09", "gcj02"): (39.90865673957631, 116.39762729119315),
    ("wgs84", "gcj02"): (39.91640428150164, 116.41024449916938),
}


def metres(a, b) -> float:
    return geodesic(a, b).meters


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM)
def test_wgs84_to_gcj02_matches_published_points(wlat, wlon, glat, glon):
    assert metres(from_wgs84(wlat, wlon, "gcj02"), (glat, glon)) < 0.2


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM)
def test_gcj02_input_comes_back_to_the_wgs84_point(wlat, wlon, glat, glon):
    assert metres(to_wgs84(glat, glon, "gcj02"), (wlat, wlon)) < 0.2


@pytest.mark.parametrize("pair", sorted(COORDTRANSFORM_RESULTS))
def test_gcj02_bd09_match_coordtransforms_documented_results(pair):
    got = convert(*COORDTRANSFORM, *pair)
    assert metres(got, COORDTRANSFORM_RESULTS[pair]) < 0.2


def test_the_shift_in_suzhou_is_hundreds_of_metres_so_a_wrong_system_would_show():
    guanqian = (31.3122, 120.6228)
    assert 300 < metres(from_wgs84(*guanqian, "gcj02"), guanqian) < 800
    assert 800 < metres(from_wgs84(*guanqian, "bd09"), guanqian) < 1500


def test_outside_china_points_pass_unchanged():
    london = (51.5007, -0.1246)
    assert not in_china(*london)
    for system in SYSTEMS:
        assert from_wgs84(*london, system) == london
        assert to_wgs84(*london, system) == london


def test_unknown_system_is_refused_by_name():
    with pytest.raises(ValueError, match="'gcj'"):
        to_wgs84(31.3, 120.6, "gcj")


china = st.tuples(st.floats(18.2, 53.5), st.floats(73.7, 134.7))  # the mainland's extent, roughly


@settings(max_examples=300, deadline=None)
@given(china, st.sampled_from(SYSTEMS))
def test_round_trip_stays_within_half_a_metre(point, system):
    there = from_wgs84(*point, system)
    back = to_wgs84(*there, system)
    assert metres(back, point) < 0.5


@settings(max_examples=200, deadline=None)
@given(china)
def test_gcj02_to_bd09_direct_equals_through_wgs84(point):
    gcj = from_wgs84(*point, "gcj02")
    assert metres(convert(*gcj, "gcj02", "bd09"), from_wgs84(*point, "bd09")) < 0.5
    assert metres(convert(*convert(*gcj, "gcj02", "bd09"), "bd09", "gcj02"), gcj) < 0.5
