"""The HTTP application: every audience's router on one FastAPI app over one platform."""
from __future__ import annotations

from fastapi import FastAPI

from gateways import citizen, health
from gateways.bootstrap import Platform
from gateways.errors import install_error_handlers


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="City parking platform",
        version="1",
        description="Live availability, guidance and leave-first-pay-later billing for a city's car parks.",
    )
    app.state.platform = platform
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(citizen.router)
    return app
