"""Paging everywhere (issue 12 §3), proved on the OpenAPI document of the whole app: every GET whose answer is a list
(a JSON array, or an object holding an array of objects) takes `limit` and an `offset` or `cursor` (`after` on
/v1/lots), so no list grows without a way to read it a page at a time. A list that is bounded by what it is (one
order's lines, one car park's berths, the configured signs) is named below with the reason; a new endpoint that
returns a list fails here until it pages or earns a line in BOUNDED."""
from __future__ import annotations

import pytest

PAGED_BY = {"offset", "cursor", "after"}

REGISTRY = "bounded by the registry or configuration, not by traffic"
PARTS = "the parts of one thing (detail answer), not a collection"
SERIES = "a time series: from/to/step bound its points"
BEST_N = "the best `limit` answers to a question (ranked), not a collection to walk"
REPORT = "one day's or month's report or document that must add up whole (CSV too)"

BOUNDED: dict[str, str] = {
    "/v1/lots/{lot_id}/berths": REGISTRY,          # one car park's berths (contract §4)
    "/v1/me": f"{PARTS}: the plates held, at most PARKING_MAX_PLATES (20)",
    "/v1/me/plates": "at most PARKING_MAX_PLATES (20) plates held at once",
    "/v1/map": REGISTRY,
    "/v1/signs": REGISTRY,
    "/v1/signs/{sign_id}": REGISTRY,
    "/v1/me/orders/{order_id}": PARTS,
    "/v1/operator/orders/{order_id}": PARTS,
    "/v1/operator/stays/{stay_id}": PARTS,
    "/v1/operator/tariffs/{tariff_id}/versions": f"{REGISTRY}: versions are written by hand",
    "/v1/operator/tariffs/{tariff_id}/quote": PARTS,
    "/v1/operator/plates/{plate}/arrears": f"{PARTS}: one plate's debts, what the barrier announces, count and total",
    "/v1/operator/lots/{lot_id}/devices": REGISTRY,
    "/v1/operator/lots/{lot_id}/commissioning": REGISTRY,
    "/v1/operator/lots/{lot_id}/credentials": REGISTRY,
    "/v1/operator/lots/{lot_id}/occupancy": SERIES,
    "/v1/operator/lots/{lot_id}/figures": SERIES,
    "/v1/lots/{lot_id}/history": SERIES,
    "/v1/lots/{lot_id}/forecast": SERIES,
    "/v1/operator/reconciliation/months/{month}": f"{SERIES}: a month's days, at most 31",
    "/v1/operator/settlement/{day}": f"{REPORT}: one line per operator",
    "/v1/operator/settlement/statements/{day}": REPORT,
    "/v1/operator/settlement/months/{month}": REPORT,
    "/v1/operator/reconciliation/{day}": f"{REPORT}: the work is /v1/operator/reconciliation/days/{{day}}/cases, paged",
    "/v1/operator/reconciliation/stay-lists/{lot_id}/{day}": f"{REPORT}: one car park's day",
    "/v1/guidance": BEST_N,
    "/v1/places": BEST_N,
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from gateways.schema import upgrade
    from parking_core.settings import load_settings

    tmp = tmp_path_factory.mktemp("paging")
    platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp / 'p.db'}", PARKING_DATA_DIR=str(tmp)), with_ingest=False)
    upgrade(platform.engine)
    yield create_app(platform).openapi()
    platform.stop()


def _resolve(doc: dict, schema: dict | None) -> dict:
    while schema and "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema or {}


def _is_list_of_objects(doc: dict, schema: dict) -> bool:
    s = _resolve(doc, schema)
    return s.get("type") == "array" and _resolve(doc, s.get("items")).get("type") == "object"


def lists(doc: dict) -> dict[str, set[str]]:
    """Every GET answering a list: path -> its query parameters."""
    found = {}
    for path, ops in doc["paths"].items():
        op = ops.get("get")
        if op is None:
            continue
        for media, body in op["responses"].get("200", {}).get("content", {}).items():
            if not media.endswith("json"):
                continue
            s = _resolve(doc, body.get("schema"))
            if s.get("type") == "array" or any(_is_list_of_objects(doc, p) for p in s.get("properties", {}).values()):
                found[path] = {q["name"] for q in op.get("parameters", []) if q["in"] == "query"}
    return found


def test_every_list_pages_or_is_bounded_by_what_it_is(openapi):
    found = lists(openapi)
    unpaged = sorted(path for path, params in found.items()
                     if not ("limit" in params and params & PAGED_BY) and path not in BOUNDED)
    assert unpaged == [], f"lists without limit and offset/cursor (page them, or add a reasoned line to BOUNDED): {unpaged}"


def test_the_bounded_table_names_only_unpaged_lists(openapi):
    """A line for a path that answers no list, or a list that now pages, is out of date (a path not in the document
    at all is let be: an endpoint being built elsewhere may have its line first)."""
    found = lists(openapi)
    stale = sorted(path for path in BOUNDED if path in openapi["paths"]
                   and (path not in found or ("limit" in found[path] and found[path] & PAGED_BY)))
    assert stale == [], f"BOUNDED lines for no list, or for one that now pages: {stale}"


def test_the_walk_finds_lists_of_each_shape(openapi):
    """The detector itself can fail: it sees the drivers' lists, the operators' and the citizens' as lists."""
    found = lists(openapi)
    for path in ("/v1/me/orders", "/v1/me/sessions", "/v1/me/receipts", "/v1/me/disputes", "/v1/me/plate-verifications",
                 "/v1/operator/orders", "/v1/operator/audit", "/v1/lots/nearby", "/v1/lots"):
        assert path in found, path
    assert {"limit", "cursor"} <= found["/v1/me/orders"] and {"limit", "offset"} <= found["/v1/operator/orders"]
    assert "/v1/lots/{lot_id}" not in found and "/healthz" not in found
