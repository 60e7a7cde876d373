"""Per-client rate limits: a token bucket per client for requests, a cap on open streams.

A client is something it cannot forge: the signed-in driver (a valid Bearer token) or the
operator (a valid X-Operator-Key), else its IP address. Behind a reverse proxy, list the
proxy's addresses in PARKING_TRUSTED_PROXIES: then the address the proxy appends to
X-Forwarded-For is the client's (the rightmost one not itself a trusted proxy); from anyone
else that header is ignored. Buckets live in process memory: with N processes a client may
make N times the limit.

Streams: the live stream endpoint calls `acquire_stream(client)` before it starts and
`release_stream(client)` when the client goes (or uses `async with limiter.stream(client)`).
"""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateways.http.settings import HttpSettings, load_http_settings
from parking_core.errors import ParkingError, TooManyRequests

EXEMPT = ("/healthz", "/metrics")  # monitoring must see the platform when it is busiest
STREAM_RETRY_AFTER_S = 5
MAX_CLIENTS = 100_000  # past this many buckets, full ones (idle clients) are forgotten


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client (burst = the per-minute limit) and open-stream counts."""

    def __init__(self, *, per_minute: int, max_streams: int, clock: Callable[[], float] = time.monotonic,
                 trusted_proxies: tuple = ()) -> None:
        self.per_minute = per_minute
        self.max_streams = max_streams
        self.trusted_proxies = trusted_proxies
        self.clock = clock
        self._rate = per_minute / 60.0  # tokens per second
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: HttpSettings) -> "RateLimiter":
        return cls(per_minute=s.per_minute, max_streams=s.max_streams, trusted_proxies=s.networks())

    @classmethod
    def from_env(cls) -> "RateLimiter":
        """Limits from PARKING_RATE_LIMIT_PER_MIN, PARKING_MAX_STREAMS_PER_CLIENT and PARKING_TRUSTED_PROXIES."""
        return cls.from_settings(load_http_settings())

    def client_of(self, scope: Scope) -> str:
        return client_of(scope, trusted_proxies=self.trusted_proxies)

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


def client_of(scope: Scope, *, trusted_proxies: tuple = ()) -> str:
    """The client a limit applies to: `driver:<account>` or `operator:<name>` when the request
    carries valid credentials, else `ip:<address>` (through trusted proxies only)."""
    headers = dict(scope.get("headers", ()))
    platform = getattr(getattr(scope.get("app"), "state", None), "platform", None)
    if platform is not None:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            try:
                return "driver:" + platform.accounts.account_from_token(auth[7:].strip())
            except ParkingError:
                pass  # an invalid token is no identity: the address is
        key = headers.get(b"x-operator-key")
        if key and (name := platform.operator_keys.name_of(key.decode("latin-1"))) is not None:
            return "operator:" + name
    return "ip:" + address_of(scope, headers, trusted_proxies)


def address_of(scope: Scope, headers: dict, trusted_proxies: tuple) -> str:
    peer = scope.get("client")
    address = peer[0] if peer else "unknown"
    if not trusted_proxies or not _trusted(address, trusted_proxies):
        return address
    forwarded = [a.strip() for a in headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",") if a.strip()]
    for hop in reversed(forwarded):  # proxies append: the rightmost untrusted hop is who connected to them
        if not _trusted(hop, trusted_proxies):
            return hop
    return forwarded[0] if forwarded else address


def _trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def limiter_of(app: object) -> RateLimiter:
    """The app's limiter (`app.state.rate_limiter`), made from the environment if absent."""
    state = app.state  # type: ignore[attr-defined]
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = state.rate_limiter = RateLimiter.from_env()
    return limiter


class RateLimitMiddleware:
    """Refuses a client's request past its limit with 429 and Retry-After; /healthz and /metrics are exempt."""

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
            limiter = limiter_of(fastapi_app)
            limiter.check(limiter.client_of(scope))
        except ParkingError as exc:  # rendered by the app's one error handler, Retry-After included
            handler = fastapi_app.exception_handlers.get(ParkingError)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
