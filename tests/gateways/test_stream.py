"""The live map's two feeds: `GET /v1/stream` (current state, then every change, as it happens)
and `GET /v1/lots` (the whole city with live fields), over a real HTTP server."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone

import httpx
import pytest

from gateways.citizen.hub import Dropped, Hub
from gateways.http.app import create_app
from gateways.http.ratelimit import RateLimiter
from parking_core.availability import Availability
from tests.browser.server import serving
from tests.factories import berth_msg, passage_msg


class Events:
    """An open stream read event by event, as a browser's EventSource reads it."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.iter_lines()

    def next(self) -> tuple[str, object]:
        event, data = "message", []
        for line in self._lines:
            if line.startswith(":"):
                return "comment", line[1:].strip()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                return event, json.loads("\n".join(data))
        raise AssertionError("the stream ended")

    def until_ready(self) -> list[dict]:
        """The current state the stream opens with."""
        state = []
        while True:
            event, data = self.next()
            if event == "ready":
                assert data == {"lots": len(state)}
                return state
            assert event == "availability"
            state.append(data)


def phone_ip(name: str) -> str:
    return f"10.0.{sum(name.encode()) % 250}.{len(name)}"


@pytest.fixture
def served(make_platform):
    """start(**kw) -> (platform, app, base URL): a platform on the test's backend behind uvicorn."""
    with ExitStack() as stack:
        def start(**kw):
            platform = make_platform(**kw)
            app = create_app(platform)
            return platform, app, stack.enter_context(serving(app))

        yield start


def open_stream(stack: ExitStack, base: str, *, app_key: str = "app-1", **params) -> Events:
    """An open stream; `app_key` names the phone (its address, as a trusted proxy in front reports
    it in X-Forwarded-For): each phone has its own stream slots."""
    client = stack.enter_context(httpx.Client(base_url=base, timeout=httpx.Timeout(5.0), headers={"X-Forwarded-For": phone_ip(app_key)}))
    response = stack.enter_context(client.stream("GET", "/v1/stream", params=params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return Events(response)


def test_stream_sends_the_current_state_then_each_change_as_it_happens(served):
    platform, _, base = served()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", False, 1, now)])
    with ExitStack() as stack:
        events = open_stream(stack, base, lots="S1,G1")
        assert events.until_ready() == [
            {"lot_id": "S1", "free": 2, "total": 4, "status": "spacesAvailable", "ts": "2026-11-23T02:00:00+00:00"},
            {"lot_id": "G1", "free": 0, "total": 3, "status": "unknown", "ts": "2026-11-23T02:00:00+00:00"},
        ]
        platform.clock.advance(minutes=1)
        sent = time.monotonic()
        platform.pipeline.process([berth_msg("S1", "b1", True, 2, platform.clock())])
        assert events.next() == ("availability", {"lot_id": "S1", "free": 1, "total": 4, "status": "spacesAvailable", "ts": "2026-11-23T02:01:00+00:00"})
        assert time.monotonic() - sent < 1.0
        platform.pipeline.process([passage_msg("G1", "g", "e1", "in", "苏E12345", platform.clock())])
        assert events.next() == ("availability", {"lot_id": "G1", "free": 2, "total": 3, "status": "spacesAvailable", "ts": "2026-11-23T02:01:00+00:00"})


@pytest.mark.parametrize("params", [{"lots": "S1"}, {"lat": 31.3, "lon": 120.6, "radius_m": 100}], ids=["by-id", "by-radius"])
def test_stream_carries_only_the_lots_it_watches(served, params):
    platform, _, base = served()
    with ExitStack() as stack:
        events = open_stream(stack, base, **params)
        assert [x["lot_id"] for x in events.until_ready()] == ["S1"]
        now = platform.clock()
        platform.pipeline.process([passage_msg("G1", "g", "e1", "in", "苏E12345", now)])  # 700 m away: not watched
        platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now)])  # half known: judged
        event, data = events.next()
        assert (event, data["lot_id"], data["free"]) == ("availability", "S1", 1)


def test_stream_by_radius_includes_every_lot_within_it_with_its_status(served):
    platform, _, base = served()
    with ExitStack() as stack:
        events = open_stream(stack, base, lat=31.3, lon=120.6, radius_m=20_000)
        state = {x["lot_id"]: x["status"] for x in events.until_ready()}
        assert state == {"S1": "unknown", "G1": "unknown", "C1": "closed"}  # C1 is shared only 18:00-08:00


def test_every_open_stream_gets_the_change(served):
    platform, _, base = served()
    with ExitStack() as stack:
        streams = [open_stream(stack, base, lots="S1", app_key=f"app-{i}") for i in range(12)]
        for s in streams:
            s.until_ready()
        platform.pipeline.process([berth_msg("S1", "b4", False, 1, platform.clock()), berth_msg("S1", "b3", True, 1, platform.clock())])
        got = []

        def read(s: Events) -> None:
            got.append(s.next()[1]["free"])

        readers = [threading.Thread(target=read, args=(s,)) for s in streams]
        for t in readers:
            t.start()
        for t in readers:
            t.join(5)
        assert got == [1] * 12


def test_stream_sends_a_keepalive_comment_between_changes(served):
    platform, app, base = served()
    app.state.hub.keepalive_s = 0.2
    with ExitStack() as stack:
        events = open_stream(stack, base, lots="G1")
        events.until_ready()
        started = time.monotonic()
        event, text = events.next()
        assert event == "comment" and str(text).startswith("ping")
        assert time.monotonic() - started < 2


def test_a_client_that_leaves_is_forgotten_and_others_still_get_changes(served):
    platform, app, base = served()
    hub = app.state.hub
    for i in range(10):
        with ExitStack() as stack:
            open_stream(stack, base, lots="S1,G1", app_key=f"app-{i}").until_ready()
        # closing the client ends the stream; the hub drops it
    deadline = time.monotonic() + 5
    while hub.watchers() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.watchers() == 0
    with ExitStack() as stack:
        events = open_stream(stack, base, lots="S1")
        events.until_ready()
        assert hub.watchers("S1") == 1
        platform.pipeline.process([berth_msg("S1", "b1", False, 1, platform.clock()), berth_msg("S1", "b2", True, 1, platform.clock())])
        assert events.next()[1]["free"] == 1


def test_a_client_may_hold_only_so_many_streams_and_gets_a_slot_back_when_one_closes(served):
    platform, app, base = served()
    app.state.rate_limiter = RateLimiter(per_minute=600, max_streams=2, trusted_proxies=(ipaddress.ip_network("127.0.0.1"),))
    with ExitStack() as stack:
        held = [open_stream(stack, base, lots="S1", app_key="greedy") for _ in range(2)]
        for events in held:
            events.until_ready()
        third = httpx.get(f"{base}/v1/stream", params={"lots": "S1"}, headers={"X-Forwarded-For": phone_ip("greedy")})
        assert third.status_code == 429 and third.json()["code"] == "too_many_requests"
        open_stream(stack, base, lots="S1", app_key="modest").until_ready()  # another app is not affected
    deadline = time.monotonic() + 5
    while app.state.rate_limiter.open_streams("ip:" + phone_ip("greedy")) and time.monotonic() < deadline:
        time.sleep(0.02)
    with ExitStack() as stack:
        open_stream(stack, base, lots="S1", app_key="greedy").until_ready()


def test_a_client_too_slow_to_read_loses_its_oldest_changes_and_is_told():
    at = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    hub = Hub(clock=lambda: at, queue_size=3)

    async def slow_client() -> list:
        async with hub.subscription(["S1"]) as sub:
            # the ingest thread publishes five changes while this client reads none
            await asyncio.to_thread(lambda: [hub.publish("S1", Availability(free, 10, "spacesAvailable", at)) for free in range(1, 6)])
            return await sub.get()

    got = asyncio.run(slow_client())
    assert got[0] == Dropped(2)
    assert [change.key for change in got[1:]] == [(3, 10, "spacesAvailable"), (4, 10, "spacesAvailable"), (5, 10, "spacesAvailable")]
    assert hub.watchers() == 0


@pytest.mark.parametrize(
    "params, name",
    [
        ({}, "lots"),
        ({"lots": " , "}, "lots"),
        ({"lots": ",".join(f"L{i}" for i in range(201))}, "lots"),
        ({"lots": "S1", "lat": 31.3, "lon": 120.6}, "lots"),
        ({"lat": 31.3}, "lon"),
        ({"lon": 120.6}, "lat"),
        ({"lat": 91, "lon": 120.6}, "lat"),
        ({"lat": 31.3, "lon": 120.6, "radius_m": 0}, "radius_m"),
        ({"lat": 31.3, "lon": 120.6, "radius_m": 50_001}, "radius_m"),
    ],
)
def test_stream_bad_parameters_get_422_naming_them(api, params, name):
    _, client = api()
    r = client.get("/v1/stream", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_input" and body["field"] == name
    assert f"'{name}'" in body["message"]


def test_stream_of_unknown_lots_is_404_naming_them(api):
    _, client = api()
    r = client.get("/v1/stream", params={"lots": "S1,NOPE,GONE"})
    assert r.status_code == 404
    assert r.json() == {"code": "lot_not_found", "message": "no car park with id 'NOPE', 'GONE'", "field": "lots", "value": "NOPE,GONE"}


def test_lots_lists_the_whole_city_with_live_fields(api):
    platform, client = api()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, platform.clock()), berth_msg("S1", "b2", True, 1, platform.clock())])
    body = client.get("/v1/lots").json()
    assert body["next"] is None
    assert [x["id"] for x in body["lots"]] == ["C1", "G1", "S1"]
    assert body["lots"][2] == {
        "id": "S1", "name": "Renmin Rd", "kind": "on_street", "lat": 31.3, "lon": 120.6, "district": "gusu", "operator": "op1",
        "free": 1, "total": 4, "status": "spacesAvailable", "updated_at": "2026-11-23T02:00:00Z", "berths_known": 2,
    }


def test_lots_pages_follow_next_to_the_end(api):
    _, client = api()
    first = client.get("/v1/lots", params={"limit": 2}).json()
    assert [x["id"] for x in first["lots"]] == ["C1", "G1"] and first["next"] == "G1"
    second = client.get("/v1/lots", params={"limit": 2, "after": first["next"]}).json()
    assert [x["id"] for x in second["lots"]] == ["S1"] and second["next"] is None
    r = client.get("/v1/lots", params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"
