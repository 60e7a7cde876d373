"""`coord=wgs84|gcj02|bd09` on the citizen APIs: a GCJ-02 or BD-09 app asks and reads in its own system,
distances are measured in WGS-84, and a bad value is a 422 naming `coord`."""
from __future__ import annotations

from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from parking_core.coords import from_wgs84
from tests.factories import berth_msg
from tests.gateways.test_stream import open_stream, served  # noqa: F401 - a fixture

S1 = (31.300, 120.600)  # tests.factories.city_registry: the sensor street, WGS-84


def open_stream_at(stack: ExitStack, base: str, point: tuple[float, float], radius_m: float = 50, **params) -> list[dict]:
    """The state a stream around `point` opens with."""
    return open_stream(stack, base, lat=point[0], lon=point[1], radius_m=radius_m, **params).until_ready()


def test_nearby_in_gcj02_finds_the_lot_under_the_apps_pin_and_answers_in_gcj02(api):
    platform, client = api()
    pin = from_wgs84(*S1, "gcj02")  # where AMap shows the S1 street: about 500 m from its WGS-84 point
    r = client.get("/v1/lots/nearby", params={"lat": pin[0], "lon": pin[1], "radius_m": 100, "coord": "gcj02"})
    assert r.status_code == 200
    lots = r.json()["lots"]
    assert [x["id"] for x in lots] == ["S1"]
    assert lots[0]["distance_m"] <= 1.0
    assert (lots[0]["lat"], lots[0]["lon"]) == pin

    # the same numbers taken as WGS-84 are half a kilometre off: nothing within 100 m
    wrong = client.get("/v1/lots/nearby", params={"lat": pin[0], "lon": pin[1], "radius_m": 100}).json()["lots"]
    assert wrong == []


def test_default_is_wgs84_and_unchanged(api):
    _, client = api()
    lots = client.get("/v1/lots/nearby", params={"lat": S1[0], "lon": S1[1], "radius_m": 10}).json()["lots"]
    assert (lots[0]["lat"], lots[0]["lon"]) == S1
    detail = client.get("/v1/lots/S1", params={"coord": "wgs84"}).json()
    assert (detail["lat"], detail["lon"]) == S1


def test_lot_detail_in_bd09(api):
    _, client = api()
    body = client.get("/v1/lots/S1", params={"coord": "bd09"}).json()
    assert (body["lat"], body["lon"]) == from_wgs84(*S1, "bd09")
    assert body["id"] == "S1" and body["district"] == "gusu"


def test_the_whole_city_list_in_gcj02(api):
    _, client = api()
    plain = {x["id"]: (x["lat"], x["lon"]) for x in client.get("/v1/lots").json()["lots"]}
    gcj = {x["id"]: (x["lat"], x["lon"]) for x in client.get("/v1/lots", params={"coord": "gcj02"}).json()["lots"]}
    assert set(gcj) == set(plain) == {"S1", "G1", "C1"}
    assert all(gcj[i] == from_wgs84(*plain[i], "gcj02") for i in plain)


def test_guidance_in_bd09_measures_walks_in_wgs84(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, now)])
    plain = client.get("/v1/guidance", params={"lat": S1[0], "lon": S1[1], "max_walk_m": 1000}).json()["lots"]
    pin = from_wgs84(*S1, "bd09")
    baidu = client.get("/v1/guidance", params={"lat": pin[0], "lon": pin[1], "max_walk_m": 1000, "coord": "bd09"}).json()["lots"]
    assert [x["id"] for x in baidu] == [x["id"] for x in plain] and baidu
    for a, b in zip(plain, baidu):
        assert abs(a["distance_m"] - b["distance_m"]) <= 1.0
        assert (b["lat"], b["lon"]) == from_wgs84(a["lat"], a["lon"], "bd09")


def test_stream_radius_is_around_the_converted_point(served):
    platform, _, base = served()
    pin = from_wgs84(*S1, "gcj02")
    with ExitStack() as stack:
        assert [x["lot_id"] for x in open_stream_at(stack, base, pin, coord="gcj02")] == ["S1"]
        assert open_stream_at(stack, base, pin, app_key="app-2") == []  # read as WGS-84: nothing within 50 m


@pytest.mark.parametrize("path,params", [
    ("/v1/lots/nearby", {"lat": 31.3, "lon": 120.6}),
    ("/v1/lots/S1", {}),
    ("/v1/lots", {}),
    ("/v1/guidance", {"lat": 31.3, "lon": 120.6}),
    ("/v1/stream", {"lat": 31.3, "lon": 120.6}),
    ("/v1/signs", {}),
    ("/v1/places", {"q": "苏州站"}),
])
def test_a_bad_coord_is_422_naming_the_parameter(api, path, params):
    _, client = api()
    r = client.get(path, params={**params, "coord": "gcj-02"})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "coord"
    assert "'gcj-02'" in body["message"] and "gcj02" in body["message"]


def test_openapi_documents_coord_on_citizen_endpoints_and_not_on_open_data(api):
    _, client = api()
    paths = client.get("/openapi.json").json()["paths"]

    def has_coord(path: str) -> bool:
        return any(p["name"] == "coord" for p in paths[path]["get"].get("parameters", []))

    for path in ("/v1/lots/nearby", "/v1/lots/{lot_id}", "/v1/lots", "/v1/guidance", "/v1/stream", "/v1/signs", "/v1/signs/{sign_id}", "/v1/places"):
        assert has_coord(path), path
    open_data = [p for p in paths if "open" in p]
    assert open_data and not any(has_coord(p) for p in open_data)


def test_signs_in_gcj02(api, monkeypatch):
    from tests.gateways.test_signs import EXAMPLE

    monkeypatch.setenv("PARKING_SIGNS", str(EXAMPLE))
    _, client = api()
    plain = TestClient(client.app).get("/v1/signs/renmin-rd-north").json()
    gcj = TestClient(client.app).get("/v1/signs/renmin-rd-north", params={"coord": "gcj02"}).json()
    assert (gcj["lat"], gcj["lon"]) == from_wgs84(plain["lat"], plain["lon"], "gcj02")
    assert gcj["lots"] == plain["lots"]


def test_map_config_offline_by_default(api):
    _, client = api()
    assert client.get("/v1/map").json() == {"coord": "wgs84", "layers": []}


def test_map_config_with_an_xyz_basemap_in_gcj02(api):
    _, client = api(PARKING_BASEMAP_URL="https://wprd0{s}.is.autonavi.com/appmaptile?style=7&x={x}&y={y}&z={z}",
                    PARKING_BASEMAP_COORD="gcj02", PARKING_BASEMAP_SUBDOMAINS="1234", PARKING_BASEMAP_ATTRIBUTION="© AutoNavi")
    body = client.get("/v1/map").json()
    assert body["coord"] == "gcj02"
    assert body["layers"] == [{"url": "https://wprd0{s}.is.autonavi.com/appmaptile?style=7&x={x}&y={y}&z={z}",
                               "subdomains": "1234", "attribution": "© AutoNavi", "max_zoom": 18}]


def test_map_config_with_a_tianditu_key(api):
    key = "0123456789abcdef0123456789abcdef"
    _, client = api(PARKING_TIANDITU_KEY=key)
    body = client.get("/v1/map").json()
    assert body["coord"] == "wgs84"  # CGCS2000: WGS-84 to within centimetres
    assert [layer["url"].split("/")[3] for layer in body["layers"]] == ["vec_w", "cva_w"]  # streets, then their names
    assert all(layer["url"].endswith("tk=" + key) and layer["subdomains"] == "01234567" for layer in body["layers"])
    assert "天地图" in body["layers"][0]["attribution"]
