"""FastAPI dependencies: the running platform, reached through the app, never a global."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from billing.agreements import Agreements
from billing.service import Billing
from gateways.bootstrap import Platform


async def get_platform(request: Request) -> Platform:
    """Async so FastAPI calls it on the event loop: a plain def costs every request a trip to the thread pool."""
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_billing(platform: PlatformDep) -> Billing:
    """Billing as the platform built it (a declared part of every platform)."""
    return platform.billing


BillingDep = Annotated[Billing, Depends(get_billing)]


def get_agreements(platform: PlatformDep) -> Agreements:
    """Billing's agreements over the platform's database and its Alipay client (None: not configured, 503)."""
    return Agreements(uow=platform.uow, clock=platform.clock, alipay=platform.alipay)


AgreementsDep = Annotated[Agreements, Depends(get_agreements)]
