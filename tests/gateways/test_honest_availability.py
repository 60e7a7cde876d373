"""Honest availability everywhere (issue 10, issue 8 item 5): a car park without fresh data reads
`unknown` on the API, the city list, the stream, open data, signs and the retained topic -- at read
time, even before the ticker runs -- and the ticker republishes it when it falls silent."""
from __future__ import annotations

from contextlib import ExitStack

import orjson
from fastapi.testclient import TestClient

from tests.factories import berth_msg, counts_msg, heartbeat_msg, passage_msg
from tests.gateways.test_signs import signs_api  # noqa: F401 - fixture
from tests.gateways.test_stream import open_stream, served  # noqa: F401 - fixture

PREFIX = "parking/v1"


def retained(platform, lot):
    return [orjson.loads(p) for t, p, r in platform.published if t == f"{PREFIX}/lots/{lot}/availability" and r]


def test_a_gate_lot_that_only_sends_heartbeats_is_unknown_on_every_read(api):
    """278 gate lots that never reported a count showed free = total and `spacesAvailable`."""
    platform, client = api()
    platform.pipeline.process([heartbeat_msg("G1", "gate-cam", platform.clock())])
    detail = client.get("/v1/lots/G1").json()
    assert (detail["status"], detail["free"], detail["total"]) == ("unknown", 0, 3)
    city = {x["id"]: x for x in client.get("/v1/lots").json()["lots"]}
    assert (city["G1"]["status"], city["G1"]["free"]) == ("unknown", 0)
    near = {x["id"]: x for x in client.get("/v1/lots/nearby", params={"lat": 31.305, "lon": 120.605, "radius_m": 100}).json()["lots"]}
    assert near["G1"]["status"] == "unknown"
    assert client.get("/v1/lots/nearby", params={"lat": 31.305, "lon": 120.605, "radius_m": 100, "min_free": 1}).json()["lots"] == []
    assert all(m["status"] == "unknown" for m in retained(platform, "G1"))


def test_a_lot_silent_past_the_timeout_reads_unknown_before_any_tick_and_tick_republishes_it(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([passage_msg("G1", "g", "e1", "in", "苏E12345", now),
                               berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", False, 1, now)])
    assert client.get("/v1/lots/G1").json()["status"] == "spacesAvailable"
    assert retained(platform, "S1")[-1]["status"] == "spacesAvailable"
    platform.clock.advance(seconds=901)  # PARKING_HEARTBEAT_TIMEOUT_S is 900; the ingest has stalled, nothing ticked
    for lot in ("G1", "S1"):
        body = client.get(f"/v1/lots/{lot}").json()
        assert (body["status"], body["free"]) == ("unknown", 0), lot
    assert retained(platform, "S1")[-1]["status"] == "spacesAvailable"  # the broker still holds the old message
    assert platform.pipeline.tick() >= {"G1", "S1"}  # (C1, shared at night, is published closed on the first tick)
    for lot in ("G1", "S1"):
        assert retained(platform, lot)[-1]["status"] == "unknown", lot
        assert retained(platform, lot)[-1]["free"] == 0
    assert platform.pipeline.tick() == set()  # said once


def test_a_street_with_too_few_berths_known_is_unknown_and_says_how_many_are_known(api):
    """ST0808 read `full 0/37` with 36 berths unknown and 1 occupied."""
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", True, 1, now)])
    body = client.get("/v1/lots/S1").json()
    assert (body["status"], body["free"], body["total"], body["berths_known"]) == ("unknown", 0, 4, 1)
    platform.pipeline.process([berth_msg("S1", "b2", True, 1, now)])  # 2 of 4: enough at the default share of 0.5
    body = client.get("/v1/lots/S1").json()
    assert (body["status"], body["free"], body["berths_known"]) == ("full", 0, 2)
    platform.pipeline.process([berth_msg("S1", "b3", False, 1, now)])
    body = client.get("/v1/lots/S1").json()
    assert (body["status"], body["free"], body["berths_known"]) == ("spacesAvailable", 1, 3)
    assert [m["status"] for m in retained(platform, "S1")] == ["unknown", "full", "spacesAvailable"]


def test_the_known_share_is_a_setting(api):
    platform, client = api(PARKING_MIN_KNOWN_SHARE="0.25")
    platform.pipeline.process([berth_msg("S1", "b1", True, 1, platform.clock())])
    assert client.get("/v1/lots/S1").json()["status"] == "full"  # 1 of 4 is a quarter: judged on that one berth


def test_open_data_shows_unknown_without_a_count(api):
    platform, client = api()
    platform.pipeline.process([heartbeat_msg("G1", "gate-cam", platform.clock()), berth_msg("S1", "b1", True, 1, platform.clock())])
    geo = {f["id"]: f["properties"] for f in client.get("/v1/open/lots.geojson").json()["features"]}
    assert (geo["G1"]["status"], geo["G1"]["free"]) == ("unknown", None)  # no count, rather than 0
    assert geo["S1"]["status"] == "unknown"
    sites = {s["id"]: s for s in client.get("/v1/open/datex2/parking-light.json").json()["parkingPublicationLight"]["parkingSite"]}
    assert "availableSpaces" not in sites["G1"] and "availableSpaces" not in sites["S1"]
    ngsi = {e["id"]: e for e in client.get("/v1/open/ngsi-ld/entities").json()}
    g1 = ngsi["urn:ngsi-ld:OffStreetParking:G1"]
    assert "availableSpotNumber" not in g1 and "status" not in g1
    assert "availableSpotNumber" not in ngsi["urn:ngsi-ld:OnStreetParking:S1"]


def test_signs_show_no_data_for_a_street_with_too_few_berths_known_and_follow_a_lot_going_silent(signs_api):  # noqa: F811
    platform, app = signs_api()
    with TestClient(app) as client:
        now = platform.clock()
        platform.pipeline.process([berth_msg("S1", "b1", True, 1, now), passage_msg("G1", "g", "e1", "in", "苏E12345", now)])
        rows = {x["lot_id"]: (x["display"], x["colour"], x["status"]) for x in client.get("/v1/signs/renmin-rd-north").json()["lots"]}
        assert rows["S1"] == ("--", "grey", "unknown")  # not 满 on one occupied berth of four
        assert rows["G1"] == ("2", "green", "spacesAvailable")
        platform.clock.advance(seconds=901)
        platform.pipeline.tick()
        (last, retain), = [(orjson.loads(p), r) for t, p, r in platform.published if t == f"{PREFIX}/signs/renmin-rd-north"][-1:]
        assert retain and {x["lot_id"]: x["display"] for x in last["lots"]}["G1"] == "--"


def test_the_stream_says_unknown_at_the_start_and_when_a_lot_falls_silent(served):  # noqa: F811
    platform, _, base = served()
    now = platform.clock()
    platform.pipeline.process([heartbeat_msg("G1", "gate-cam", now), berth_msg("S1", "b1", True, 1, now), counts_msg("C1", 5, 110, now)])
    with ExitStack() as stack:
        events = open_stream(stack, base, lots="S1,G1")
        state = {x["lot_id"]: (x["status"], x["free"]) for x in events.until_ready()}
        assert state == {"S1": ("unknown", 0), "G1": ("unknown", 0)}
        platform.pipeline.process([passage_msg("G1", "g", "e1", "in", "苏E12345", platform.clock())])
        event, data = events.next()
        assert (event, data["lot_id"], data["status"], data["free"]) == ("availability", "G1", "spacesAvailable", 2)
        platform.clock.advance(seconds=901)
        platform.pipeline.tick()
        event, data = events.next()
        assert (event, data["lot_id"], data["status"], data["free"]) == ("availability", "G1", "unknown", 0)
