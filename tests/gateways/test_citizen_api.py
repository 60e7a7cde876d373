"""Contract section 4: nearby, detail, berths, health, OpenAPI; bad parameters are named."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import berth_msg, passage_msg


def test_nearby_lists_lots_nearest_first_with_live_fields(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", False, 1, now), passage_msg("G1", "g", "e1", "in", "苏E12345", now)])
    r = client.get("/v1/lots/nearby", params={"lat": 31.3001, "lon": 120.6001, "radius_m": 2000})
    assert r.status_code == 200
    lots = r.json()["lots"]
    assert [x["id"] for x in lots] == ["S1", "G1"]
    s1 = lots[0]
    assert set(s1) == {"id", "name", "kind", "lat", "lon", "distance_m", "free", "total", "status", "updated_at", "berths_known"}
    assert (s1["free"], s1["total"], s1["status"], s1["kind"], s1["berths_known"]) == (2, 4, "spacesAvailable", "on_street", 2)
    assert lots[1]["berths_known"] is None  # a gated car park has no berth sensors
    assert 10 < s1["distance_m"] < 20
    assert lots[1]["free"] == 2 and lots[1]["distance_m"] > s1["distance_m"]
    assert s1["updated_at"].startswith("2026-11-23T02:00:00")


def test_nearby_filters_by_radius_min_free_and_limit(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), passage_msg("G1", "g", "e1", "in", "苏E12345", now)])
    near = lambda **kw: [x["id"] for x in client.get("/v1/lots/nearby", params={"lat": 31.3, "lon": 120.6, **kw}).json()["lots"]]
    assert near(radius_m=100) == ["S1"]
    assert near(radius_m=2000, min_free=2) == ["G1"]
    assert near(radius_m=20000, limit=1) == ["S1"]
    assert near(radius_m=20000) == ["S1", "G1", "C1"]
    assert near(radius_m=0) == ["S1"]


@pytest.mark.parametrize(
    "params, name",
    [
        ({"lat": 91, "lon": 120}, "lat"),
        ({"lat": 31, "lon": -181}, "lon"),
        ({"lat": 31, "lon": 120, "radius_m": -1}, "radius_m"),
        ({"lat": 31, "lon": 120, "limit": 101}, "limit"),
        ({"lat": "north", "lon": 120}, "lat"),
        ({"lon": 120}, "lat"),
    ],
)
def test_nearby_bad_parameters_get_422_naming_them(api, params, name):
    _, client = api()
    r = client.get("/v1/lots/nearby", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == name and body["code"] == "invalid_input"
    assert f"'{name}'" in body["message"]


def test_lot_detail_and_404(api):
    platform, client = api()
    r = client.get("/v1/lots/G1")
    assert r.status_code == 200
    body = r.json()
    assert body["operator"] == "op2" and body["district"] == "gusu" and body["tariff"] == "suzhou-offstreet"
    assert body["status"] == "unknown"  # nothing heard from the car park yet
    r = client.get("/v1/lots/NOPE")
    assert r.status_code == 404
    assert r.json() == {"code": "lot_not_found", "message": "no car park with id 'NOPE'", "field": "lot_id", "value": "NOPE"}
    assert client.get("/v1/lots/NOPE/berths").status_code == 404


def test_berths_show_state_and_since_and_closed_outside_shared_hours(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", True, 1, now - timedelta(minutes=3))])
    berths = client.get("/v1/lots/S1/berths").json()["berths"]
    assert berths[0]["id"] == "b1" and berths[0]["status"] == "occupied"
    assert berths[0]["since"].startswith("2026-11-23T01:57:00")
    assert [b["status"] for b in berths[1:]] == ["unknown"] * 3
    assert client.get("/v1/lots/C1").json()["status"] == "closed"


def test_health_reports_each_dependency(api):
    platform, client = api()
    r = client.get("/healthz")
    assert r.status_code == 200
    deps = r.json()["dependencies"]
    assert deps["database"]["ok"] and deps["live_state"]["ok"]
    assert r.json()["lots"] == 3


def test_health_is_503_when_the_database_is_gone(api, tmp_path):
    platform, client = api()
    platform.engine.dispose()
    from sqlalchemy import create_engine

    platform.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["dependencies"]["database"]["ok"] is False


def test_openapi_documents_every_endpoint(api):
    _, client = api()
    spec = client.get("/openapi.json").json()
    for path in ("/v1/lots/nearby", "/v1/lots/{lot_id}", "/v1/lots/{lot_id}/berths", "/healthz"):
        assert path in spec["paths"]
    assert spec["paths"]["/v1/lots/{lot_id}"]["get"]["responses"]["404"]
