"""FastAPI dependencies: the running platform, reached through the app, never a global."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateways.bootstrap import Platform


async def get_platform(request: Request) -> Platform:
    """Async so FastAPI calls it on the event loop: a plain def costs every request a trip to the thread pool."""
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]
