"""The HTTP application: every audience's router on one FastAPI app over one platform."""
from __future__ import annotations

from fastapi import FastAPI

from gateways import retention_app
from gateways.bootstrap import Platform
from gateways.callbacks import alipay as alipay_callbacks
from gateways.citizen import guidance, lots, lots_list, pages, places, signs, stream
from gateways.driver import account_deletion as driver_account_deletion
from gateways.driver import accounts as driver_accounts
from gateways.driver import agreement as driver_agreement
from gateways.driver import orders as driver_orders
from gateways.driver import plate_evidence as driver_plate_evidence
from gateways.http import health, metrics
from gateways.http.body_limit import BodyLimitMiddleware
from gateways.http.caching import CachingMiddleware
from gateways.http.errors import install_error_handlers
from gateways.http.ratelimit import RateLimiter, RateLimitMiddleware
from gateways.opendata import feeds as opendata
from gateways.opendata.cors import OpenDataCors
from gateways.operator import api as operator_api
from gateways.operator import arrears as operator_arrears
from gateways.operator import billing as operator_billing
from gateways.operator import disputes as operator_disputes
from gateways.operator import joining as operator_joining
from gateways.operator import plate_verifications as operator_plate_verifications
from gateways.operator import reconciliation as operator_reconciliation
from gateways.operator import settlement as operator_settlement
from gateways.operator import tariffs as operator_tariffs


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="City parking platform",
        version="1",
        description="Live availability, guidance and leave-first-pay-later billing for a city's car parks.",
        docs_url=None, redoc_url=None,  # pages.mount serves both from bundled files: no CDN, works offline
    )
    app.state.platform = platform
    install_error_handlers(app)
    app.include_router(health.router)
    # routes are matched in order, one by one: the paths drivers ask most come first
    app.include_router(lots.router)
    app.include_router(guidance.router)
    app.include_router(driver_accounts.router)
    app.include_router(driver_agreement.router)
    app.include_router(driver_account_deletion.router)
    app.include_router(operator_disputes.router)
    app.include_router(driver_plate_evidence.router)
    app.include_router(operator_plate_verifications.router)
    app.include_router(lots_list.router)
    stream.include(app)
    pages.mount(app)
    app.include_router(opendata.router)
    app.include_router(signs.router)
    app.include_router(alipay_callbacks.router)
    app.include_router(driver_orders.router)
    app.include_router(operator_billing.router)
    app.include_router(operator_tariffs.router)
    app.include_router(operator_arrears.router)
    operator_api.include(app)
    operator_reconciliation.include(app)
    retention_app.install(app)  # the daily retention run (PARKING_RETENTION_HOUR)
    app.include_router(operator_settlement.router)
    operator_joining.include(app)
    app.include_router(places.router)
    metrics.install(app, platform)
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter.for_platform(platform))
    app.add_middleware(OpenDataCors)  # outside the rate limit: preflights are free, a 429 is readable
    app.add_middleware(CachingMiddleware)  # 429s and errors get no-store too
    app.add_middleware(BodyLimitMiddleware)  # outermost: an oversized body is refused before anything reads it
    return app
