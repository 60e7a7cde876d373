"""Nearby's answer is written by orjson from plain values (gateways/http/answer.py `json_data`), not by its
response model: the bytes must be those pydantic writes for the same answer, whatever the values."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.citizen.schemas import NearbyList, NearbyLot
from gateways.http.answer import json_data
from tests.factories import counts_msg, feature, registry

finite = st.floats(allow_nan=False, allow_infinity=False)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.one_of(st.none(), st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets))
lots = st.fixed_dictionaries({
    "id": st.text(min_size=1), "name": st.text(), "kind": st.sampled_from(["on_street", "off_street"]),
    "lat": finite, "lon": finite, "free": st.integers(-2**53, 2**53), "total": st.integers(0, 2**53),
    "status": st.sampled_from(["spacesAvailable", "almostFull", "full", "closed", "unknown"]), "updated_at": times,
    "berths_known": st.one_of(st.none(), st.integers(0, 10**6)), "distance_m": finite,
})


@settings(max_examples=300, deadline=None)
@given(st.lists(lots, max_size=5), st.one_of(st.none(), st.integers(0, 10**6)))
def test_orjson_writes_the_bytes_pydantic_writes(rows, next_offset):
    rows = [{k: r[k] for k in NearbyLot.model_fields} for r in rows]  # as the handler builds them: the model's order
    data = {"lots": rows, "next_offset": next_offset}
    assert json_data(data).body == NearbyList(lots=[NearbyLot(**r) for r in rows], next_offset=next_offset).model_dump_json().encode()


def test_the_nearby_endpoint_answers_exactly_its_documented_model(api):
    city = registry(feature("A", name="观前街停车场", lat=31.3001, lon=120.6), feature("B", lat=31.302, lon=120.601, total=40))
    platform, client = api(registry=city)
    now = platform.clock()
    platform.pipeline.process([counts_msg("A", 3, 10, now), counts_msg("B", 0, 40, now - timedelta(seconds=1))])
    for coord in ("wgs84", "gcj02", "bd09"):
        r = client.get("/v1/lots/nearby", params={"lat": 31.3, "lon": 120.6, "radius_m": 2000, "limit": 1, "coord": coord})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == NearbyList.model_validate_json(r.content).model_dump_json().encode()
        body = r.json()
        assert [x["id"] for x in body["lots"]] == ["A"] and body["next_offset"] == 1
        assert body["lots"][0]["free"] == 3 and body["lots"][0]["updated_at"].endswith("Z")
