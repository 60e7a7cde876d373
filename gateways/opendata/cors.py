"""CORS for open data only: any web site may read `/v1/open/...` from a browser (the data is public
and needs no credentials), while the rest of the API stays same-origin.

Starlette's CORSMiddleware does the work (preflight answers, `Access-Control-Allow-Origin: *`);
this wrapper hands it only the open-data paths.
"""
from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_DATA_PREFIX = "/v1/open/"


class OpenDataCors:
    def __init__(self, app: ASGIApp, *, prefix: str = OPEN_DATA_PREFIX) -> None:
        self.app = app
        self.prefix = prefix
        self.cors = CORSMiddleware(app, allow_origins=["*"], allow_methods=["GET", "HEAD", "OPTIONS"], allow_headers=["*"],
                                   expose_headers=["ETag", "Cache-Control", "Link"], max_age=86400)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
