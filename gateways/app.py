"""The HTTP application: every audience's router on one FastAPI app over one platform."""
from __future__ import annotations

from fastapi import FastAPI

from gateways import citizen, health
from gateways import driver_accounts, operator_disputes
from gateways import lots_list, pages, stream
from gateways import opendata, signs
from gateways import arrears_notice, driver_orders, operator_billing, payments
from gateways import operator_tariffs
from gateways import guidance, metrics, places
from gateways.body_limit import BodyLimitMiddleware
from gateways.bootstrap import Platform
from gateways.caching import CachingMiddleware
from gateways.errors import install_error_handlers
from gateways.opendata_cors import OpenDataCors
from gateways.ratelimit import RateLimiter, RateLimitMiddleware


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
    app.include_router(citizen.router)
    app.include_router(driver_accounts.router)
    app.include_router(operator_disputes.router)
    app.include_router(lots_list.router)
    stream.include(app)
    pages.mount(app)
    app.include_router(opendata.router)
    app.include_router(signs.router)
    app.include_router(payments.router)
    app.include_router(driver_orders.router)
    app.include_router(operator_billing.router)
    app.include_router(operator_tariffs.router)
    app.include_router(arrears_notice.router)
    app.include_router(guidance.router)
    app.include_router(places.router)
    metrics.install(app, platform)
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter.from_env())
    app.add_middleware(OpenDataCors)  # outside the rate limit: preflights are free, a 429 is readable
    app.add_middleware(CachingMiddleware)  # 429s and errors get no-store too
    app.add_middleware(BodyLimitMiddleware)  # outermost: an oversized body is refused before anything reads it
    return app
