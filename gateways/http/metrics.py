"""`GET /metrics` for Prometheus: what an operator of the platform graphs and alerts on.

Everything but request latency is read at scrape time from what the platform already keeps
(the ingest workers' reports, live state, the orders table), so no domain code carries metric
calls. Request latency is a histogram kept by a middleware, per route template.
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from parking_core.availability import AvailabilityRules, read_availability

router = APIRouter(tags=["health"])
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
INGEST_COUNTERS = ("received", "accepted", "applied", "duplicates", "stale", "rejected", "internal_errors", "retries")


class PlatformCollector:
    """Reads the platform's own state when Prometheus scrapes."""

    def __init__(self, platform) -> None:  # noqa: ANN001 - gateways.bootstrap.Platform
        self.platform = platform

    def collect(self):  # noqa: ANN201
        p = self.platform
        workers = p.workers_status() if p.ingest is not None else []
        counters = {name: CounterMetricFamily(f"parking_ingest_{name}", f"ingest messages {name}, per worker", labels=["worker"])
                    for name in INGEST_COUNTERS}
        lag = GaugeMetricFamily("parking_ingest_lag_seconds", "age of the oldest unacknowledged message", labels=["worker"])
        up = GaugeMetricFamily("parking_ingest_worker_up", "1 when the worker is alive and reporting", labels=["worker"])
        restarts = CounterMetricFamily("parking_ingest_worker_restarts", "restarts of the worker by `serve --workers`", labels=["worker"])
        reasons = CounterMetricFamily("parking_ingest_rejected_by_reason", "rejected messages by reason", labels=["reason"])
        by_reason: Counter = Counter()
        for w in workers:
            wid = str(w.get("worker"))
            for name in INGEST_COUNTERS:
                counters[name].add_metric([wid], float(w.get(name, 0) or 0))
            lag.add_metric([wid], float(w.get("lag_s", 0) or 0))
            up.add_metric([wid], 1.0 if w.get("alive") else 0.0)
            restarts.add_metric([wid], float(w.get("restarts", 0) or 0))
            by_reason.update(w.get("reasons") or {})
        for reason, n in sorted(by_reason.items()):
            reasons.add_metric([reason], float(n))
        yield from counters.values()
        yield from (lag, up, restarts, reasons)
        yield self._lots()
        yield self._orders()

    def _lots(self) -> GaugeMetricFamily:
        p = self.platform
        g = GaugeMetricFamily("parking_lots", "car parks by availability status now", labels=["status"])
        counts: Counter = Counter()
        try:
            rules = AvailabilityRules.from_settings(p.settings)
            for _, a in read_availability(p.directory.lots, p.live, list(p.directory.lots), datetime.now(timezone.utc), rules):
                counts[a.status] += 1
        except Exception:  # live state away: say nothing rather than fail the scrape
            return g
        for status, n in sorted(counts.items()):
            g.add_metric([status], float(n))
        return g

    def _orders(self) -> GaugeMetricFamily:
        from billing.models import Order

        g = GaugeMetricFamily("parking_orders", "orders by state (payment outcomes)", labels=["status"])
        try:
            with self.platform.uow() as uow:
                rows = uow.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
        except Exception:  # database away: /healthz says so
            return g
        for status, n in sorted(rows):
            g.add_metric([status], float(n))
        return g


class MetricsMiddleware:
    """Request latency by method, route template and status class (plain ASGI: bodies pass untouched)."""

    def __init__(self, app, registry: CollectorRegistry) -> None:  # noqa: ANN001
        self.app = app
        self.latency = Histogram("parking_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_noting(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                template = getattr(scope.get("route"), "path", "unmatched")
                if not template.startswith("/v1/stream"):  # a stream's duration is not a latency
                    self.latency.labels(scope["method"], template, f"{status[0] // 100}xx").observe(time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, send_noting)


def install(app, platform) -> None:  # noqa: ANN001
    """One registry per app (tests build many apps in one process)."""
    registry = CollectorRegistry()
    registry.register(PlatformCollector(platform))
    app.state.metrics_registry = registry
    app.add_middleware(MetricsMiddleware, registry=registry)
    app.include_router(router)


@router.get("/metrics", include_in_schema=True, response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics: ingest counters, lag and workers, rejections by reason, car parks by
    status, orders by state, HTTP latency by route."""
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
