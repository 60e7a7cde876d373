"""FastAPI dependencies: the running platform, reached through the app, never a global."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateways.bootstrap import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]
