"""GET /v1/lots/nearby over a crowded centre: distance_m is the WGS-84 geodesic within 1 m, nearest first,
and live state is read only for the lots that can be returned."""
from __future__ import annotations

import random

from geographiclib.geodesic import Geodesic
from geopy.distance import geodesic

from tests.factories import counts_msg, feature, registry

CENTRE = (31.3, 120.6)


def crowded_centre(n: int = 400, max_m: float = 6_000) -> dict:
    rnd = random.Random(11)
    features = []
    for i in range(n):
        p = Geodesic.WGS84.Direct(*CENTRE, rnd.uniform(0, 360), max_m * rnd.random())
        features.append(feature(f"P{i:04d}", name=f"car park {i}", operator="op1", total=20, lat=p["lat2"], lon=p["lon2"]))
    return registry(*features)


def _counting_reads(platform) -> list[int]:
    reads, real = [], platform.live.lots
    platform.live.lots = lambda ids: reads.append(len(ids)) or real(ids)
    return reads


def test_distances_are_geodesic_within_a_metre_and_nearest_first(api):
    platform, client = api(registry=crowded_centre())
    for radius in (1_000, 5_000):
        lots = client.get("/v1/lots/nearby", params={"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": radius, "limit": 100}).json()["lots"]
        want = sorted((geodesic(CENTRE, (x.lat, x.lon)).meters, x.id) for x in platform.directory.lots.values())
        want = [(d, i) for d, i in want if d <= radius][:100]
        assert [x["id"] for x in lots] == [i for _, i in want]
        assert all(abs(x["distance_m"] - d) <= 1.0 for x, (d, _) in zip(lots, want))
        assert [x["distance_m"] for x in lots] == sorted(x["distance_m"] for x in lots)


def test_only_the_lots_returned_are_read_from_live_state(api):
    platform, client = api(registry=crowded_centre())
    reads = _counting_reads(platform)
    r = client.get("/v1/lots/nearby", params={"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 5_000, "limit": 20})
    assert len(r.json()["lots"]) == 20
    assert sum(reads) == 20  # not the few hundred lots within 5 km


def test_min_free_reads_on_until_enough_lots_have_space(api):
    platform, client = api(registry=crowded_centre())
    now = platform.clock()
    lots = platform.directory.lots
    order = [info.id for _, info in platform.directory.nearest(*CENTRE, 5_000)]
    roomy = set(order[100::3])  # the 100 nearest are full; beyond them every third has space
    platform.pipeline.process([counts_msg(i, 5 if i in roomy else 0, lots[i].total, now) for i in order])
    reads = _counting_reads(platform)
    got = client.get("/v1/lots/nearby", params={"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 5_000, "min_free": 1, "limit": 5}).json()["lots"]
    assert [x["id"] for x in got] == [i for i in order if i in roomy][:5]
    assert all(x["free"] == 5 for x in got)
    assert sum(reads) < len(order)  # stopped once five were found
