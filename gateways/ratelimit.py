"""Per-client rate limits: a token bucket per client for requests, a cap on open streams.

A client is its API key (header `X-API-Key`) when it sends one, else its IP address. The
key is not verified here, so a limit per key is a courtesy to integrators, not a defence;
put the platform behind a proxy that sets the client address (uvicorn --proxy-headers)
so clients behind it are told apart. Buckets live in process memory: with N processes a
client may make N times the limit.

Streams: the live stream endpoint calls `acquire_stream(client)` before it starts and
`release_stream(client)` when the client goes (or uses `async with limiter.stream(client)`).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from parking_core.errors import ConfigError, ParkingError, TooManyRequests

API_KEY_HEADER = "x-api-key"
EXEMPT = ("/healthz", "/v1/payments/alipay/notify", "/v1/payments/alipay/agreement-notify")  # monitoring; Alipay retries for a day if refused
STREAM_RETRY_AFTER_S = 5
MAX_CLIENTS = 100_000  # past this many buckets, full ones (idle clients) are forgotten


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    per_minute: int = Field(default=600, alias="PARKING_RATE_LIMIT_PER_MIN", ge=0, description="0 turns the limit off")
    max_streams: int = Field(default=5, alias="PARKING_MAX_STREAMS_PER_CLIENT", ge=1)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client (burst = the per-minute limit) and open-stream counts."""

    def __init__(self, *, per_minute: int, max_streams: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.max_streams = max_streams
        self.clock = clock
        self._rate = per_minute / 60.0  # tokens per second
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> "RateLimiter":
        """Limits from PARKING_RATE_LIMIT_PER_MIN and PARKING_MAX_STREAMS_PER_CLIENT."""
        try:
            s = RateLimitSettings()
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0])
            known = RateLimitSettings.model_fields.get(name)
            field = known.alias if known is not None and known.alias else name
            raise ConfigError(f"{field}={err.get('input')!r}: {err['msg']}", field=field, value=err.get("input")) from None
        return cls(per_minute=s.per_minute, max_streams=s.max_streams)

    def check(self, client: str) -> None:
        """Take one token for a request, or raise TooManyRequests saying when to retry."""
        if self.per_minute == 0:
            return
        with self._lock:
            now = self.clock()
            b = self._buckets.get(client)
            if b is None:
                if len(self._buckets) >= MAX_CLIENTS:
                    self._forget_idle(now)
                b = self._buckets[client] = _Bucket(float(self.per_minute), now)
            b.tokens = min(float(self.per_minute), b.tokens + (now - b.at) * self._rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return
            wait = max(1, math.ceil((1 - b.tokens) / self._rate))
        raise TooManyRequests(
            f"more than {self.per_minute} requests a minute from this client; retry in {wait} s",
            retry_after=wait, limit_per_minute=self.per_minute,
        )

    def _forget_idle(self, now: float) -> None:
        full = [c for c, b in self._buckets.items() if b.tokens + (now - b.at) * self._rate >= self.per_minute]
        for c in full:
            del self._buckets[c]

    def acquire_stream(self, client: str) -> None:
        """Count one more open stream for the client, or raise TooManyRequests at the cap."""
        with self._lock:
            n = self._streams.get(client, 0)
            if n >= self.max_streams:
                raise TooManyRequests(
                    f"this client already has {n} open streams, the most allowed; close one first",
                    retry_after=STREAM_RETRY_AFTER_S, max_streams=self.max_streams,
                )
            self._streams[client] = n + 1

    def release_stream(self, client: str) -> None:
        with self._lock:
            n = self._streams.get(client, 0) - 1
            if n > 0:
                self._streams[client] = n
            else:
                self._streams.pop(client, None)

    def open_streams(self, client: str) -> int:
        return self._streams.get(client, 0)

    @asynccontextmanager
    async def stream(self, client: str) -> AsyncIterator[None]:
        """`async with limiter.stream(client):` holds one stream slot for the block."""
        self.acquire_stream(client)
        try:
            yield
        finally:
            self.release_stream(client)


def client_of(scope: Scope) -> str:
    """The client a limit applies to: `key:<api key>` if sent, else `ip:<address>`."""
    for name, value in scope.get("headers", ()):
        if name == API_KEY_HEADER.encode() and value:
            return "key:" + value.decode("latin-1")
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


def limiter_of(app: object) -> RateLimiter:
    """The app's limiter (`app.state.rate_limiter`), made from the environment if absent."""
    state = app.state  # type: ignore[attr-defined]
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = state.rate_limiter = RateLimiter.from_env()
    return limiter


class RateLimitMiddleware:
    """Refuses a client's request past its limit with 429 and Retry-After; /healthz is exempt."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        fastapi_app = scope["app"]
        if self.limiter is not None and getattr(fastapi_app.state, "rate_limiter", None) is None:
            fastapi_app.state.rate_limiter = self.limiter
        try:
            limiter_of(fastapi_app).check(client_of(scope))
        except ParkingError as exc:  # rendered by the app's one error handler, Retry-After included
            handler = fastapi_app.exception_handlers.get(ParkingError)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
