"""Place search: the bundled gazetteer directly, geopy's Baidu v3 geocoder against a local stand-in
(no test reaches the internet), and `GET /v1/places` answering in the caller's coordinate system."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from geopy.distance import great_circle
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_core.coords import from_wgs84
from parking_core.errors import ConfigError
from parking_core.places import BaiduPlaces, Gazetteer, PlaceSearchUnavailable
from parking_core.settings import load_settings

AK = "TestAk0123456789abcdEFGH"
ADDRESS = "苏州市姑苏区三香路998号"
ADDRESS_WGS = (31.2996, 120.5855)


@pytest.fixture(scope="module")
def gazetteer():
    return Gazetteer.load()


# ---- the gazetteer ------------------------------------------------------------------------------

def test_station_and_street_by_their_names(gazetteer):
    station = gazetteer.search("苏州站")[0]
    assert (station.name, station.kind, station.city) == ("苏州站", "station", "苏州")
    assert great_circle((station.lat, station.lon), (31.330, 120.610)).meters < 500
    street = gazetteer.search("观前街")[0]
    assert (street.name, street.kind, street.district) == ("观前街", "street", "姑苏区")
    assert len(street.line) >= 2 and (street.lat, street.lon) in street.line


def test_aliases_codes_and_a_city_in_the_query(gazetteer):
    assert gazetteer.search("苏州火车站")[0].name == "苏州站"
    assert gazetteer.search("gusu")[0].name == "姑苏区"
    assert gazetteer.search("苏州观前街")[0].name == "观前街"
    both = gazetteer.search("人民路")
    assert {p.city for p in both if p.name == "人民路"} == {"苏州", "南通"}
    nantong = gazetteer.search("南通人民路")[0]
    assert (nantong.name, nantong.city) == ("人民路", "南通")
    assert gazetteer.search("狼山")[0].city == "南通"
    assert gazetteer.search("no such place") == []


def test_every_entry_sits_in_suzhou_or_nantong_in_wgs84(gazetteer):
    boxes = {"苏州": ((30.75, 32.05), (119.9, 121.35)), "南通": ((31.55, 32.75), (120.2, 121.95))}
    seen = set()
    for p in gazetteer.places:
        (s, n), (w, e) = boxes[p.city]
        assert s < p.lat < n and w < p.lon < e, p
        assert (p.name, p.city) not in seen, p
        seen.add((p.name, p.city))
    kinds = {p.kind for p in gazetteer.places}
    assert kinds == {"district", "street", "station", "landmark"}


# ---- Baidu's geocoder through geopy, against a stand-in ------------------------------------------

@contextmanager
def baidu_stand_in(answers: dict[str, dict]):
    """A local HTTP server speaking Baidu's geocoding v3 API; yields (base URL, requests seen)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            seen.append({"path": url.path, **params})
            body = answers.get(params.get("address"), {"status": 1, "msg": "Internal Service Error:无相关结果", "results": []})
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def baidu_answer(wgs: tuple[float, float], level: str = "门址") -> dict:
    lat, lon = from_wgs84(*wgs, "bd09")  # Baidu answers in BD-09
    return {"status": 0, "result": {"location": {"lng": lon, "lat": lat}, "precise": 1, "confidence": 80, "comprehension": 100, "level": level}}


def test_baidu_answer_comes_back_in_wgs84(tmp_path):
    with baidu_stand_in({ADDRESS: baidu_answer(ADDRESS_WGS)}) as (base, seen):
        places = BaiduPlaces(AK, base_url=base).search(ADDRESS)
    assert len(places) == 1
    p = places[0]
    assert (p.source, p.kind, p.name) == ("baidu", "门址", ADDRESS)
    assert great_circle((p.lat, p.lon), ADDRESS_WGS).meters < 1.0
    assert seen == [{"path": "/geocoding/v3/", "ak": AK, "output": "json", "address": ADDRESS}]


def test_baidu_answers_are_cached_and_a_security_key_signs_requests():
    with baidu_stand_in({ADDRESS: baidu_answer(ADDRESS_WGS)}) as (base, seen):
        baidu = BaiduPlaces(AK, sk="SecretSk0123456789abcdef", base_url=base)
        baidu.search(ADDRESS)
        baidu.search(f" {ADDRESS} ")
    assert len(seen) == 1  # Baidu counts every call against the key's daily quota
    assert len(seen[0]["sn"]) == 32


def test_a_refused_key_is_a_named_failure_without_the_key():
    with baidu_stand_in({ADDRESS: {"status": 240, "message": "APP 服务被禁用"}}) as (base, _):
        with pytest.raises(PlaceSearchUnavailable) as err:
            BaiduPlaces(AK, base_url=base).search(ADDRESS)
    assert "Baidu geocoder" in str(err.value) and AK not in str(err.value)


def test_a_geocoder_that_is_down_is_a_named_failure():
    with baidu_stand_in({}) as (base, _):
        pass  # closed: nothing listens there any more
    with pytest.raises(PlaceSearchUnavailable, match="Baidu geocoder"):
        BaiduPlaces(AK, base_url=base, timeout_s=2).search(ADDRESS)


# ---- GET /v1/places ---------------------------------------------------------------------------------

def test_places_endpoint_answers_in_gcj02(api):
    _, client = api()
    r = client.get("/v1/places", params={"q": "苏州站", "coord": "gcj02", "limit": 3})
    assert r.status_code == 200
    body = r.json()
    first = body["places"][0]
    station = Gazetteer.load().search("苏州站")[0]
    assert (first["name"], first["kind"], first["source"]) == ("苏州站", "station", "gazetteer")
    assert (first["lat"], first["lon"]) == from_wgs84(station.lat, station.lon, "gcj02")
    assert len(body["places"]) <= 3 and body["warnings"] == []
    plain = client.get("/v1/places", params={"q": "苏州站"}).json()["places"][0]
    assert (plain["lat"], plain["lon"]) == (station.lat, station.lon)


def test_places_endpoint_with_baidu_configured(api):
    with baidu_stand_in({ADDRESS: baidu_answer(ADDRESS_WGS)}) as (base, _):
        _, client = api(PARKING_BAIDU_AK=AK, PARKING_BAIDU_URL=base)
        body = client.get("/v1/places", params={"q": ADDRESS, "coord": "bd09"}).json()
        assert body["places"][0]["source"] == "baidu"  # then the gazetteer's looser matches: 三香路, 姑苏区
        assert {p["name"] for p in body["places"][1:]} <= {"三香路", "姑苏区"}
        got = (body["places"][0]["lat"], body["places"][0]["lon"])
        assert great_circle(got, from_wgs84(*ADDRESS_WGS, "bd09")).meters < 1.0
        # the gazetteer's exact name comes first, Baidu's answer after it
        ranked = client.get("/v1/places", params={"q": "观前街"}).json()["places"]
        assert ranked[0]["source"] == "gazetteer" and ranked[0]["name"] == "观前街"


def test_places_endpoint_when_baidu_is_down(api):
    with baidu_stand_in({}) as (base, _):
        pass
    _, client = api(PARKING_BAIDU_AK=AK, PARKING_BAIDU_URL=base, PARKING_GEOCODER_TIMEOUT_S=2)
    body = client.get("/v1/places", params={"q": "观前街"}).json()
    assert body["places"][0]["name"] == "观前街" and "Baidu geocoder" in body["warnings"][0]
    r = client.get("/v1/places", params={"q": "玉山路88号"})  # nothing in the gazetteer by that name
    assert r.status_code == 503 and r.json()["field"] == "q"
    assert AK not in r.text


def test_places_endpoint_bad_parameters_are_named(api):
    _, client = api()
    for params, name in (({}, "q"), ({"q": ""}, "q"), ({"q": "苏州站", "limit": 0}, "limit")):
        r = client.get("/v1/places", params=params)
        assert r.status_code == 422 and r.json()["field"] == name


def test_coords_endpoint_converts_one_point(api):
    _, client = api()
    r = client.get("/v1/coords", params={"lat": 31.3, "lon": 120.6, "from": "wgs84", "to": "gcj02"}).json()
    assert (r["lat"], r["lon"], r["coord"]) == (*from_wgs84(31.3, 120.6, "gcj02"), "gcj02")
    assert client.get("/v1/coords", params={"lat": 31.3, "lon": 120.6, "from": "wgs", "to": "gcj02"}).json()["field"] == "from"


@pytest.mark.parametrize("env,value", [
    ("PARKING_BAIDU_AK", "not a key!"),
    ("PARKING_TIANDITU_KEY", "0123"),
    ("PARKING_BASEMAP_URL", "https://tiles.example/{z}/{x}.png?tk=secret"),
])
def test_a_bad_key_or_tile_url_stops_start_up_naming_it_not_showing_it(env, value):
    with pytest.raises(ConfigError) as err:
        load_settings(**{env: value})
    assert str(err.value).startswith(env) and value not in str(err.value)


@pytest.mark.parametrize("env,value,words", [
    ("PARKING_BASEMAP_COORD", "bd09", "'wgs84' or 'gcj02'"),
    ("PARKING_BAIDU_URL", "api.map.baidu.com", "http"),
    ("PARKING_GEOCODER_TIMEOUT_S", "0", "greater than 0"),
])
def test_bad_map_settings_stop_start_up_naming_them(env, value, words):
    with pytest.raises(ConfigError) as err:
        load_settings(**{env: value})
    assert str(err.value).startswith(f"{env}={value!r}") and words in str(err.value)


_parts = st.lists(st.sampled_from(["{z}", "{x}", "{y}", "{-y}", "{s}", "{r}", "tiles", "/", "?", "&", "=", "style=7", "a.png"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_parts, st.sampled_from(["http://", "https://", "ftp://", ""]), st.sampled_from(["", "{foo}", "{"]))
def test_a_tile_template_is_accepted_exactly_when_leaflet_can_fill_it(parts, scheme, extra):
    url = f"{scheme}tiles.example/{''.join(parts)}{extra}"
    fillable = (scheme in ("http://", "https://") and not extra and {"{z}", "{x}"} <= set(parts)
                and bool({"{y}", "{-y}"} & set(parts)))
    try:
        load_settings(PARKING_BASEMAP_URL=url)
        accepted = True
    except ConfigError as err:
        accepted = False
        assert str(err).startswith("PARKING_BASEMAP_URL:") and url not in str(err)
    assert accepted == fillable, url
