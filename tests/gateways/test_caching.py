"""HTTP caching on every read: ETag and If-None-Match → 304, Cache-Control by kind of data."""
from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gateways.http.caching import CachingMiddleware
from tests.factories import berth_msg, passage_msg

NEARBY = {"lat": 31.3, "lon": 120.6, "radius_m": 2000}


def test_lot_detail_answers_304_until_the_lot_changes(api):
    platform, client = api()
    first = client.get("/v1/lots/G1")
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"] == "max-age=5"
    again = client.get("/v1/lots/G1", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag and again.headers["Cache-Control"] == "max-age=5"
    platform.pipeline.process([passage_msg("G1", "g", "e1", "in", "苏E12345", platform.clock())])
    changed = client.get("/v1/lots/G1", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["free"] == 2
    assert changed.headers["ETag"] != tag


def test_nearby_honours_if_none_match_lists_and_star(api):
    platform, client = api()
    tag = client.get("/v1/lots/nearby", params=NEARBY).headers["ETag"]
    assert client.get("/v1/lots/nearby", params=NEARBY, headers={"If-None-Match": f'W/"other", {tag}'}).status_code == 304
    assert client.get("/v1/lots/nearby", params=NEARBY, headers={"If-None-Match": tag.removeprefix("W/")}).status_code == 304
    assert client.get("/v1/lots/nearby", params=NEARBY, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/v1/lots/nearby", params={**NEARBY, "radius_m": 100}, headers={"If-None-Match": tag}).status_code == 200
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, platform.clock())])
    assert client.get("/v1/lots/nearby", params=NEARBY, headers={"If-None-Match": tag}).status_code == 200


def test_open_data_is_cached_and_unchanged_data_keeps_its_tag(api):
    platform, client = api()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, platform.clock())])
    for url in ("/v1/open/lots.geojson", "/v1/open/datex2/parking-light.json", "/v1/open/ngsi-ld/entities"):
        r = client.get(url)
        assert r.headers["Cache-Control"] == "max-age=5", url
        platform.clock.advance(seconds=30)  # time passes, nothing changes
        assert client.get(url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304, url


def test_errors_health_and_the_api_description_get_their_own_policy(api):
    _, client = api()
    missing = client.get("/v1/lots/NOPE")
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store" and "ETag" not in missing.headers
    health = client.get("/healthz")
    assert health.headers["Cache-Control"] == "no-store" and "ETag" not in health.headers
    spec = client.get("/openapi.json")
    assert spec.headers["Cache-Control"] == "max-age=300"
    assert client.get("/openapi.json", headers={"If-None-Match": spec.headers["ETag"]}).status_code == 304


def test_an_authorised_answer_is_private(api):
    _, client = api()
    r = client.get("/v1/lots/G1", headers={"Authorization": "Bearer x"})
    assert r.headers["Cache-Control"] == "private, no-store"


def _streaming_app() -> Starlette:
    async def chunks():
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            yield part

    async def stream(request):
        return StreamingResponse(chunks(), media_type="text/plain")

    async def post(request):
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/stream", stream), Route("/write", post, methods=["POST"])])
    app.add_middleware(CachingMiddleware)
    return app


def test_a_streamed_answer_arrives_whole_and_is_never_cached():
    client = TestClient(_streaming_app())
    r = client.get("/stream", headers={"If-None-Match": "*"})
    assert r.status_code == 200 and r.content == b"data: 1\n\ndata: 2\n\n"
    assert r.headers["Cache-Control"] == "no-store" and "ETag" not in r.headers


def test_writes_are_left_alone():
    r = TestClient(_streaming_app()).post("/write", headers={"If-None-Match": "*"})
    assert r.status_code == 200 and "ETag" not in r.headers and "Cache-Control" not in r.headers
