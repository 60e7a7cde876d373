"""Operators publish tariff versions over HTTP; orders and guidance use the version in force when the stay began."""
from __future__ import annotations

import copy
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest

from billing.orders import OrderBook
from billing.tariffs.catalog import BUNDLED
from gateways.operator.permissions import OperatorKeys
from tests.factories import feature, registry

KEY = "tariff-op-" + "k" * 24
OPERATOR = {"X-Operator-Key": KEY}
# now (the frozen clock) is 2026-11-23 10:00 in Shanghai
SUZHOU_V2 = {**json.loads((BUNDLED / "suzhou_offstreet.json").read_text()), "version": 2, "format": 2,
             "notes": "first hour 4 CNY in each 24 h, then 1 CNY per started hour",
             "free_minutes_lost_if_longer": True, "unit_minutes": 60,
             "first_window": {"minutes": 60, "unit_minutes": 60, "per": "rolling_24h"},
             "periods": [{"label": "all day", "start": "00:00", "end": "24:00", "rate_fen": 100,
                          "first_rate_fen": 400}]}


@pytest.fixture
def op(api):
    platform, client = api(registry=registry(
        feature("LOT", total=10, lat=31.30, lon=120.60, tariff="suzhou-offstreet")))
    platform.operator_keys = OperatorKeys({"city": KEY})  # the city: every tariff (operators: tests/operators)
    return platform, client


def at(platform, hours: float):
    return platform.clock() + timedelta(hours=hours)


def test_a_valid_format_2_rule_set_is_checked_and_an_invalid_one_named_by_tariff_rule_and_field(op):
    _, client = op
    ok = client.post("/v1/operator/tariffs/check", json=SUZHOU_V2, headers=OPERATOR)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"tariff_id": "suzhou-offstreet", "version": 2, "format": 2}
    bad = copy.deepcopy(SUZHOU_V2)
    bad["periods"][0]["occurrence_cap_fen"] = -1
    r = client.post("/v1/operator/tariffs/check", json=bad, headers=OPERATOR)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "periods[0].occurrence_cap_fen"
    assert "-1 is below 0 (tariff 'suzhou-offstreet')" in body["message"]
    old = {**SUZHOU_V2, "format": 1}
    r = client.post("/v1/operator/tariffs/check", json=old, headers=OPERATOR)
    assert r.status_code == 422 and r.json()["field"] == "first_window.per"
    assert "needs \"format\": 2" in r.json()["message"]


def test_only_operators_may_publish(op):
    _, client = op
    r = client.post("/v1/operator/tariffs", json={"rules": SUZHOU_V2})
    assert r.status_code == 401 and r.json()["field"] == "X-Operator-Key"


def test_publish_is_versioned_idempotent_and_never_rewrites_a_version(op):
    platform, client = op
    body = {"rules": SUZHOU_V2, "effective_from": at(platform, 1).isoformat()}
    first = client.post("/v1/operator/tariffs", json=body, headers=OPERATOR)
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["format"], first.json()["created_by"]) == (2, 2, "city")
    again = client.post("/v1/operator/tariffs", json=body, headers=OPERATOR)  # a retried request
    assert again.status_code == 200 and again.json() == first.json()
    changed = client.post("/v1/operator/tariffs", json={**body, "rules": {**SUZHOU_V2, "cap_fen": 900}},
                          headers=OPERATOR)
    assert changed.status_code == 409 and changed.json()["field"] == "version"
    not_above = client.post("/v1/operator/tariffs", json={"rules": {**SUZHOU_V2, "version": 1}}, headers=OPERATOR)
    assert not_above.status_code == 409 and "not above" in not_above.json()["message"]
    past = client.post("/v1/operator/tariffs", json={"rules": {**SUZHOU_V2, "version": 3},
                                                     "effective_from": at(platform, -1).isoformat()}, headers=OPERATOR)
    assert past.status_code == 422 and past.json()["field"] == "effective_from"
    listed = client.get("/v1/operator/tariffs/suzhou-offstreet/versions", headers=OPERATOR).json()["versions"]
    assert [(v["version"], v["source"]) for v in listed] == [(1, "bundled"), (2, "published")]
    rules = client.get("/v1/operator/tariffs/suzhou-offstreet/versions/2", headers=OPERATOR).json()
    assert rules["first_window"]["per"] == "rolling_24h" and rules["format"] == 2
    assert "suzhou-offstreet" in client.get("/v1/operator/tariffs", headers=OPERATOR).json()["tariffs"]
    assert client.get("/v1/operator/tariffs/nope/versions", headers=OPERATOR).status_code == 404


def test_quotes_and_orders_use_the_version_in_force_when_the_stay_began(op):
    platform, client = op
    r = client.post("/v1/operator/tariffs", json={"rules": SUZHOU_V2, "effective_from": at(platform, 1).isoformat()},
                    headers=OPERATOR)
    assert r.status_code == 201, r.text

    def quote(start: float, hours: float) -> tuple[int, int]:
        q = client.get("/v1/operator/tariffs/suzhou-offstreet/quote", headers=OPERATOR, params={
            "entered_at": at(platform, start).isoformat(), "exited_at": at(platform, start + hours).isoformat()})
        assert q.status_code == 200, q.text
        return q.json()["version"], q.json()["amount_fen"]

    # began 30 min before version 2 came into force, 2 h stay: version 1 (30 free min kept, 2 CNY per hour):
    # charged from 10:00+30min to 12:30 -> 2 started hours = 400
    assert quote(0.5, 2) == (1, 400)
    # began after it: version 2: first hour 400 + 1 hour at 100 = 500
    assert quote(1.5, 2) == (2, 500)

    orders = OrderBook(uow=platform.uow, clock=platform.clock, directory=platform.directory, tariffs=platform.tariffs)

    def order_price(start: float, hours: float):
        stay = SimpleNamespace(lot_id="LOT", plate="苏E12345", entered_at=at(platform, start),
                               exited_at=at(platform, start + hours), vehicle="small", new_energy=False)
        with platform.uow() as uow:
            return orders.price(uow.session, stay)

    before, after = order_price(0.5, 2), order_price(1.5, 2)
    assert (before.tariff_version, before.amount_fen) == (1, 400)
    assert (after.tariff_version, after.amount_fen) == (2, 500)
    assert [(line["label"], line["fen"]) for line in after.breakdown] == [
        ("no free 30 min: stay over 30 min", 0), ("all day, first 60 min", 400), ("all day", 100)]


def test_guidance_quotes_the_version_in_force_at_arrival(op):
    platform, client = op
    r = client.post("/v1/operator/tariffs", json={"rules": SUZHOU_V2, "effective_from": at(platform, 1).isoformat()},
                    headers=OPERATOR)
    assert r.status_code == 201

    def price(arrive_in_min: int) -> int:
        g = client.get("/v1/guidance", params={"lat": 31.30, "lon": 120.60, "arrive_in_min": arrive_in_min,
                                               "stay_min": 120})
        assert g.status_code == 200, g.text
        return {x["id"]: x for x in g.json()["lots"]}["LOT"]["expected_price_fen"]

    assert price(30) == 400   # arrives 10:30, before version 2: 30 free min kept, then 2 started hours x 200
    assert price(90) == 500   # arrives 11:30 under version 2: 400 + 100


def test_another_worker_sees_a_published_version_after_its_refresh_interval(op):
    from billing.tariffs.versions import TariffBook

    platform, client = op
    clock = [0.0]
    other = TariffBook(dict(platform.tariffs), uow=platform.uow, refresh_s=5, monotonic=lambda: clock[0])
    later = at(platform, 2)
    assert other.in_force("suzhou-offstreet", later).version == 1      # reads the (empty) table now
    r = client.post("/v1/operator/tariffs", json={"rules": SUZHOU_V2, "effective_from": at(platform, 1).isoformat()},
                    headers=OPERATOR)
    assert r.status_code == 201
    clock[0] = 4.9
    assert other.in_force("suzhou-offstreet", later).version == 1      # within the interval: not read again
    clock[0] = 5.1
    assert other.in_force("suzhou-offstreet", later).version == 2
    assert other.in_force("suzhou-offstreet", at(platform, 0.5)).version == 1  # stays begun before it: version 1
