"""Guidance, forecast and history endpoints over both backends: what a driver's app gets, and 422s by name."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parking_core.availability import Availability
from parking_core.clock import SHANGHAI
from parking_core.eventlog import append_availability
from tests.factories import counts_msg, feature, registry

DEST = {"lat": 31.300, "lon": 120.600}
M = 1 / 111_000  # a metre north, in degrees of latitude


def guide_city() -> dict:
    """Lots north of the destination: at 100 m, 300 m, 600 m; a shared lot at 200 m; a silent one at 150 m."""
    return registry(
        feature("NEAR", total=10, lat=31.300 + 100 * M, lon=120.600, tariff="suzhou-offstreet"),
        feature("FULL", total=3, lat=31.300 + 300 * M, lon=120.600, tariff="suzhou-offstreet"),
        feature("FAR", total=10, lat=31.300 + 600 * M, lon=120.600, tariff="nantong-onstreet", kind="on_street"),
        feature("SHARED", total=50, lat=31.300 + 200 * M, lon=120.600, shared_hours="18:00-08:00"),
        feature("QUIET", total=20, lat=31.300 + 150 * M, lon=120.600),
        feature("AWAY", total=20, lat=31.400, lon=120.600),
    )


def full_every_morning(platform, weeks: int = 4) -> None:
    """FULL's log: full 08:00-10:45 local every day for `weeks`, all 3 spaces free otherwise."""
    today = platform.clock().astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for d in range(1, weeks * 7 + 1):
        day = today - timedelta(days=d)
        for at, free in ((day.replace(hour=8), 0), (day.replace(hour=10, minute=45), 3)):
            rows.append(("FULL", at, Availability(free, 3, "full" if free == 0 else "spacesAvailable", at)))
    with platform.uow() as uow:
        append_availability(uow.session, rows)
        uow.commit()


@pytest.fixture
def city(api):
    """10:00 in Suzhou: NEAR and FAR have 8 free, FULL is full, QUIET never spoke; FULL has four weeks of history."""
    platform, client = api(registry=guide_city())
    full_every_morning(platform)
    now = platform.clock()
    platform.pipeline.process([counts_msg("NEAR", 8, 10, now), counts_msg("FAR", 8, 10, now), counts_msg("FULL", 0, 3, now)])
    warm_forecaster(client, platform)
    return platform, client


def warm_forecaster(client, platform) -> None:
    """Learn every lot's history as a running platform already has: requests never wait for it."""
    from types import SimpleNamespace

    from gateways.citizen.guidance import forecaster_of

    forecaster = forecaster_of(SimpleNamespace(app=client.app))
    forecaster.prepare(list(platform.directory.lots), platform.clock())
    assert forecaster.wait_idle(30)


def guide(client, **params):
    r = client.get("/v1/guidance", params={**DEST, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_guidance_ranks_open_lots_within_the_walk_with_their_reasons(city):
    platform, client = city
    body = guide(client, arrive_in_min=60, stay_min=60)
    assert body["arrive_at"].startswith("2026-11-23T03:00:00")
    assert (body["stay_min"], body["vehicle"]) == (60, "small")
    lots = {x["id"]: x for x in body["lots"]}
    assert set(lots) == {"NEAR", "FULL", "FAR", "QUIET"}  # SHARED is closed at 11:00, AWAY is 11 km off
    assert body["lots"][0]["id"] == "NEAR"
    near = lots["NEAR"]
    assert set(near) == {
        "id", "name", "kind", "lat", "lon", "distance_m", "free_now", "total", "status", "updated_at", "stale",
        "berths_known", "predicted_free_at_arrival", "predicted_low", "predicted_high", "confidence", "forecast_basis",
        "expected_price_fen", "tariff", "score", "score_parts", "reasons",
    }
    assert (near["free_now"], near["total"], near["status"], near["stale"]) == (8, 10, "spacesAvailable", False)
    assert 95 < near["distance_m"] < 105
    assert near["expected_price_fen"] == 200  # 30 min free, then 2 CNY for the started hour
    assert near["score"] == pytest.approx(sum(near["score_parts"].values()), abs=0.2)
    assert near["reasons"][:2] == ["100 m from your destination", "8 free now"]
    assert lots["FAR"]["expected_price_fen"] == 300  # two half hours at 1.50 CNY
    assert body["lots"][-1]["id"] == "QUIET"  # never heard from: below every lot with fresh data and space
    scores = [x["score"] for x in body["lots"][:-1]]
    assert scores == sorted(scores, reverse=True)


def test_a_lot_full_now_with_space_expected_at_arrival_is_shown_as_such(city):
    _, client = city
    full = next(x for x in guide(client, arrive_in_min=60)["lots"] if x["id"] == "FULL")
    assert (full["free_now"], full["status"]) == (0, "full")
    assert full["predicted_free_at_arrival"] >= 2 and full["confidence"] > 0.5
    assert "profile of" in full["forecast_basis"]
    assert "full now, space expected at arrival" in full["reasons"]
    soon = next(x for x in guide(client, arrive_in_min=5)["lots"] if x["id"] == "FULL")
    assert soon["predicted_free_at_arrival"] == 0 and "full now, no space expected at arrival" in soon["reasons"]


def test_a_lot_without_data_is_stale_ranked_down_and_says_so(city):
    _, client = city
    lots = guide(client)["lots"]
    quiet = next(x for x in lots if x["id"] == "QUIET")
    assert quiet["stale"] is True and quiet["status"] == "unknown"
    assert quiet["free_now"] == 0 and quiet["updated_at"] is None and quiet["score_parts"]["fresh"] == 0
    assert "no fresh data (never heard from): shown after the 2 car parks with fresh data and space within 800 m" in quiet["reasons"]
    assert not any("free now" in r for r in quiet["reasons"])
    assert quiet["expected_price_fen"] is None and "no tariff on record" in quiet["reasons"]
    assert [x["id"] for x in lots].index("QUIET") > [x["id"] for x in lots].index("FAR")  # nearer, but ranked below


def test_counts_older_than_the_heartbeat_timeout_make_a_lot_stale(api):
    platform, client = api(registry=guide_city(), PARKING_HEARTBEAT_TIMEOUT_S="600")
    now = platform.clock()
    platform.pipeline.process([counts_msg("NEAR", 8, 10, now - timedelta(minutes=30)), counts_msg("FAR", 8, 10, now)])
    lots = {x["id"]: x for x in guide(client)["lots"]}
    assert lots["NEAR"]["stale"] is True and lots["FAR"]["stale"] is False
    # frozen data is never presented as live: 8 free half an hour ago is no count now
    assert (lots["NEAR"]["status"], lots["NEAR"]["free_now"]) == ("unknown", 0)
    assert "no fresh data (nothing heard for 30 min): shown after the 1 car park with fresh data and space within 800 m" in lots["NEAR"]["reasons"]
    assert [x["id"] for x in guide(client)["lots"]][0] == "FAR"  # nearer, but without fresh data


def test_guidance_when_nothing_within_the_walk_has_fresh_data(api):
    platform, client = api(registry=guide_city())
    lots = guide(client, max_walk_m=160)["lots"]  # NEAR and QUIET, neither heard from
    assert [x["id"] for x in lots] == ["NEAR", "QUIET"]
    for lot in lots:
        assert lot["stale"] is True and lot["status"] == "unknown" and lot["free_now"] == 0
        assert "no fresh data (never heard from): shown because nothing better within 160 m" in lot["reasons"]


def test_new_energy_and_large_vehicles_see_their_own_price(city):
    _, client = city
    nev = {x["id"]: x["expected_price_fen"] for x in guide(client, vehicle="nev", stay_min=60)["lots"]}
    large = {x["id"]: x["expected_price_fen"] for x in guide(client, vehicle="large", stay_min=60)["lots"]}
    assert (nev["NEAR"], nev["FAR"]) == (100, 0)  # half price; Nantong's first 2 h free for new-energy vehicles
    assert (large["NEAR"], large["FAR"]) == (400, 600)


def test_a_shared_lot_appears_only_when_open_at_arrival(api):
    evening = datetime(2026, 11, 23, 9, 50, tzinfo=timezone.utc)  # 17:50 in Suzhou; shared from 18:00
    platform, client = api(registry=guide_city(), now=evening)
    platform.pipeline.process([counts_msg("SHARED", 40, 50, evening)])
    assert "SHARED" not in [x["id"] for x in guide(client, arrive_in_min=5)["lots"]]
    shared = next(x for x in guide(client, arrive_in_min=20)["lots"] if x["id"] == "SHARED")
    assert shared["status"] == "closed" and shared["predicted_free_at_arrival"] == 40
    assert "closed now, open to the public when you arrive" in shared["reasons"]
    assert "open to the public 18:00-08:00" in shared["reasons"]


def test_max_walk_and_limit_bound_the_list(city):
    _, client = city
    assert [x["id"] for x in guide(client, max_walk_m=120)["lots"]] == ["NEAR"]
    assert len(guide(client, limit=2)["lots"]) == 2


@pytest.mark.parametrize(
    "params, name",
    [
        ({"lat": 91}, "lat"),
        ({"lon": 181}, "lon"),
        ({"arrive_in_min": -1}, "arrive_in_min"),
        ({"arrive_in_min": 121}, "arrive_in_min"),
        ({"vehicle": "bus"}, "vehicle"),
        ({"max_walk_m": 0}, "max_walk_m"),
        ({"max_walk_m": 5001}, "max_walk_m"),
        ({"stay_min": 0}, "stay_min"),
        ({"limit": 51}, "limit"),
    ],
)
def test_guidance_parameters_out_of_range_get_422_naming_them(api, params, name):
    _, client = api()
    r = client.get("/v1/guidance", params={**DEST, **params})
    assert r.status_code == 422
    assert r.json()["field"] == name and f"'{name}'" in r.json()["message"]


def test_forecast_gives_15_30_60_minutes_within_capacity(city):
    platform, client = city
    r = client.get("/v1/lots/FULL/forecast")
    assert r.status_code == 200
    body = r.json()
    assert body["lot_id"] == "FULL"
    assert body["now"] == {"free": 0, "total": 3, "status": "full", "updated_at": "2026-11-23T02:00:00Z", "berths_known": None}
    now = platform.clock()
    forecasts = body["forecasts"]
    assert [f["horizon_min"] for f in forecasts] == [15, 30, 60]
    for f in forecasts:
        assert datetime.fromisoformat(f["at"]) == now + timedelta(minutes=f["horizon_min"])
        assert 0 <= f["low"] <= f["free"] <= f["high"] <= 3 and 0 <= f["confidence"] <= 1
        assert "profile of 29 days" in f["basis"]  # four weeks and this morning
    assert forecasts[0]["free"] == 0  # well inside the morning's full spell at 10:15
    assert forecasts[2]["free"] >= 2  # free again by 11:00, as every day


def test_forecast_without_history_carries_the_count_with_low_confidence(city):
    _, client = city
    forecasts = client.get("/v1/lots/NEAR/forecast").json()["forecasts"]
    assert [f["free"] for f in forecasts] == [8, 8, 8]
    assert all("no history" in f["basis"] for f in forecasts)
    assert forecasts[-1]["confidence"] < 0.4


def test_forecast_of_a_shared_lot_outside_its_hours_and_of_an_unknown_lot(api):
    _, client = api()
    body = client.get("/v1/lots/C1/forecast").json()  # 10:00: the government car park is not shared until 18:00
    assert body["now"]["status"] == "closed"
    assert all((f["free"], f["high"]) == (0, 0) and "18:00-08:00" in f["basis"] for f in body["forecasts"])
    r = client.get("/v1/lots/NOPE/forecast")
    assert r.status_code == 404 and r.json()["code"] == "lot_not_found"


def test_history_lists_changes_and_resamples_by_step(city):
    platform, client = city
    r = client.get("/v1/lots/FULL/history", params={"from": "2026-11-22T07:00:00+08:00", "to": "2026-11-22T12:00:00+08:00"})
    assert r.status_code == 200
    body = r.json()
    assert (body["lot_id"], body["step"]) == ("FULL", None)
    assert body["from"] == "2026-11-21T23:00:00Z" and body["to"] == "2026-11-22T04:00:00Z"
    assert [(p["ts"], p["free"], p["status"]) for p in body["points"]] == [
        ("2026-11-22T00:00:00Z", 0, "full"), ("2026-11-22T02:45:00Z", 3, "spacesAvailable"),
    ]
    assert body["in_force_at_from"]["free"] == 3
    r = client.get("/v1/lots/FULL/history", params={"from": "2026-11-22T08:30:00+08:00", "to": "2026-11-22T11:30:00+08:00", "step": 3600})
    points = r.json()["points"]
    assert [(p["ts"], p["free"]) for p in points] == [
        ("2026-11-22T00:30:00Z", 0), ("2026-11-22T01:30:00Z", 0), ("2026-11-22T02:30:00Z", 0), ("2026-11-22T03:30:00Z", 3),
    ]
    for p in points:
        assert datetime.fromisoformat(p["ts"]).tzinfo is not None


def test_history_defaults_to_the_last_day(city):
    _, client = city
    body = client.get("/v1/lots/FULL/history").json()
    assert body["from"] == "2026-11-22T02:00:00Z" and body["to"] == "2026-11-23T02:00:00Z"
    assert body["in_force_at_from"]["free"] == 0  # full since 08:00 yesterday
    assert [(p["ts"], p["free"]) for p in body["points"]] == [("2026-11-22T02:45:00Z", 3), ("2026-11-23T02:00:00Z", 0)]


@pytest.mark.parametrize(
    "params, name",
    [
        ({"from": "2026-11-22T10:00:00+08:00", "to": "2026-11-22T09:00:00+08:00"}, "to"),
        ({"from": "2026-10-01T00:00:00+08:00", "to": "2026-11-22T00:00:00+08:00"}, "from"),
        ({"from": "2026-11-22T00:00:00+08:00", "to": "2026-11-23T00:00:00+08:00", "step": 59}, "step"),
        ({"from": "2026-11-15T00:00:00+08:00", "to": "2026-11-22T00:00:00+08:00", "step": 60}, "step"),
        ({"from": "2026-11-22T00:00:00"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-22T00:00:00"}, "to"),
    ],
)
def test_history_out_of_bounds_gets_422_naming_the_parameter(api, params, name):
    _, client = api()
    r = client.get("/v1/lots/G1/history", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == name


def test_history_of_an_unknown_lot_is_404(api):
    _, client = api()
    assert client.get("/v1/lots/NOPE/history").status_code == 404


def test_openapi_documents_guidance_forecast_and_history(api):
    _, client = api()
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/guidance", "/v1/lots/{lot_id}/forecast", "/v1/lots/{lot_id}/history"):
        assert "get" in paths[path]
    assert paths["/v1/lots/{lot_id}/forecast"]["get"]["responses"]["404"]
