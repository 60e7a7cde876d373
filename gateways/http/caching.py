"""HTTP caching for every read: an ETag with If-None-Match → 304, and a Cache-Control policy.

Apps poll availability every few seconds; a 304 costs neither the body nor the client's
parsing. One ASGI middleware does it for every GET route, so no route can forget it.
Streamed responses (server-sent events, anything sent in several chunks) pass through
untouched apart from `Cache-Control: no-store`, so a stream is never buffered.
"""
from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIVE_MAX_AGE_S = 5  # availability changes by the second; a few seconds spares the servers
STATIC_MAX_AGE_S = 300  # the API description changes with a deployment
NO_STORE = ("/healthz",)  # must show the state now, never a cached one
STATIC = ("/openapi.json", "/docs", "/redoc", "/static/")


class CachingMiddleware:
    def __init__(self, app: ASGIApp, *, live_max_age: int = LIVE_MAX_AGE_S, static_max_age: int = STATIC_MAX_AGE_S) -> None:
        self.app = app
        self.live_max_age = live_max_age
        self.static_max_age = static_max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        policy = self.policy(scope["path"], private="authorization" in request_headers or "x-operator-key" in request_headers)
        if_none_match = request_headers.get("if-none-match")
        held: Message | None = None
        passing = False

        async def send_cached(message: Message) -> None:
            nonlocal held, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                ok = 200 <= message["status"] < 300
                if "cache-control" not in headers:
                    headers["Cache-Control"] = policy if ok else "no-store"
                streaming = headers.get("content-type", "").startswith("text/event-stream")
                no_store = "no-store" in headers["Cache-Control"]
                if not ok or streaming or no_store or "etag" in headers or scope["method"] == "HEAD":
                    if streaming:
                        headers["Cache-Control"] = "no-store"
                    passing = True
                    await send(message)
                    return
                held = message
                return
            if message["type"] == "http.response.body" and held is not None:
                start, held = held, None
                if message.get("more_body", False):  # a stream: no ETag, no buffering
                    MutableHeaders(scope=start)["Cache-Control"] = "no-store"
                    passing = True
                    await send(start)
                    await send(message)
                    return
                tag = etag(message.get("body", b""))
                headers = MutableHeaders(scope=start)
                headers["ETag"] = tag
                if if_none_match is not None and matches(if_none_match, tag):
                    await send(_not_modified(start))
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send(start)
                await send(message)
                return
            await send(message)

        await self.app(scope, receive, send_cached)

    def policy(self, path: str, *, private: bool) -> str:
        """Cache-Control for a successful GET of this path."""
        if path.startswith(NO_STORE):
            return "no-store"
        if private:  # an answer for one driver or operator: never in a shared cache, nor kept on disk
            return "private, no-store"
        audience = ""
        if path.startswith(STATIC):
            return f"{audience}max-age={self.static_max_age}"
        return f"{audience}max-age={self.live_max_age}"


def etag(body: bytes) -> str:
    """A weak validator: same body, same tag (RFC 9110 §8.8.3)."""
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str, tag: str) -> bool:
    """Weak comparison against an If-None-Match list, as RFC 9110 §13.1.2 asks."""
    if if_none_match.strip() == "*":
        return True
    opaque = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))


def _not_modified(start: Message) -> Message:
    """A 304 keeps the validators and caching headers and drops the body's."""
    keep = {b"etag", b"cache-control", b"vary", b"date", b"expires", b"content-location", b"last-modified"}
    return {
        "type": "http.response.start", "status": 304,
        "headers": [(k, v) for k, v in start.get("headers", []) if k.lower() in keep],
    }
