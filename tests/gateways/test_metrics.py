"""`/metrics` tells an operator, in Prometheus' format, what the ingest did (by outcome and by
rejection reason), how the car parks stand, how orders stand, and how long requests take."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import berth_msg, passage_msg


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def test_metrics_count_ingest_outcomes_lots_orders_and_latency(api):
    platform, client = api(with_ingest=False)
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", True, 1, now), berth_msg("S1", "b1", True, 1, now),
                               berth_msg("S1", "nope", True, 1, now), passage_msg("G1", "g", "e1", "in", "苏E12345", now)])
    client.get("/v1/lots/S1")
    m = scrape(client)
    assert m[("parking_lots", (("status", "unknown"),))] >= 1
    assert m[("parking_http_request_duration_seconds_count", (("method", "GET"), ("route", "/v1/lots/{lot_id}"), ("status", "2xx")))] == 1
    assert sum(v for (name, _), v in m.items() if name == "parking_orders") == 0


def test_metrics_of_a_running_ingest_show_workers_reasons_and_lag(make_platform):
    from fastapi.testclient import TestClient

    from gateways.http.app import create_app

    platform = make_platform(with_ingest=True)
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", True, 1, now), berth_msg("S1", "b1", True, 1, now), berth_msg("S1", "nope", True, 2, now)])
    m = scrape(TestClient(create_app(platform)))
    assert m[("parking_ingest_received_total", (("worker", "0"),))] == 3
    assert m[("parking_ingest_duplicates_total", (("worker", "0"),))] == 1
    assert m[("parking_ingest_rejected_by_reason_total", (("reason", "unknown berth 'nope' in lot 'S1'"),))] == 1
    assert m[("parking_ingest_worker_up", (("worker", "0"),))] == 1
    assert ("parking_ingest_lag_seconds", (("worker", "0"),)) in m
