"""Per-client rate limits: a token bucket per client for requests, a cap on open streams.

A client is something it cannot forge: the signed-in driver (a valid Bearer token) or the
operator principal (a valid X-Operator-Key: a configured key, an issued API key or a console
session), else its IP address. Behind a reverse proxy, list the proxy's addresses in
PARKING_TRUSTED_PROXIES: then the address the proxy appends to X-Forwarded-For is the client's
(the rightmost one not itself a trusted proxy); from anyone else that header is ignored.

The counts live in Redis when REDIS_URL is set, so every HTTP process shares them
(gateways/http/ratelimit_store.py); otherwise in this process.

Streams: the live stream endpoint calls `acquire_stream(client)` before it starts and
`release_stream(client)` when the client goes (or uses `async with limiter.stream(client)`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateways.http.ratelimit_store import LimitStore, MemoryStore, RedisStore
from gateways.http.settings import HttpSettings, load_http_settings
from parking_core.errors import ParkingError, TooManyRequests
from parking_core.settings import load_settings

EXEMPT = ("/healthz", "/metrics")  # monitoring must see the platform when it is busiest
STREAM_RETRY_AFTER_S = 5
IDENTITY_TTL_S = 10.0  # how long an operator key's principal is remembered for counting (never for access)
IDENTITY_CACHE = 10_000


class RateLimiter:
    """A token bucket per client (burst = the per-minute limit) and open-stream counts, kept in a store."""

    def __init__(self, *, per_minute: int, max_streams: int, clock: Callable[[], float] = time.monotonic,
                 trusted_proxies: tuple = (), store: LimitStore | None = None) -> None:
        self.per_minute = per_minute
        self.max_streams = max_streams
        self.trusted_proxies = trusted_proxies
        self.store: LimitStore = store if store is not None else MemoryStore(clock)
        self._operators = OperatorIdentities()

    @classmethod
    def from_settings(cls, s: HttpSettings, *, redis_url: str | None = None, redis_prefix: str = "parking:") -> "RateLimiter":
        store = RedisStore.from_url(redis_url, prefix=redis_prefix) if redis_url else None
        return cls(per_minute=s.per_minute, max_streams=s.max_streams, trusted_proxies=s.networks(), store=store)

    @classmethod
    def from_env(cls) -> "RateLimiter":
        """Limits from PARKING_RATE_LIMIT_PER_MIN, PARKING_MAX_STREAMS_PER_CLIENT and PARKING_TRUSTED_PROXIES,
        shared through REDIS_URL (under PARKING_REDIS_PREFIX) when it is set."""
        http = load_http_settings()
        core = load_settings()
        return cls.from_settings(http, redis_url=core.redis_url, redis_prefix=core.redis_prefix)

    @classmethod
    def for_platform(cls, platform) -> "RateLimiter":  # noqa: ANN001
        """The environment's limits, counted in the platform's Redis (under its key prefix) if it has one."""
        s = platform.settings
        return cls.from_settings(load_http_settings(), redis_url=s.redis_url, redis_prefix=s.redis_prefix)

    def client_of(self, scope: Scope) -> str:
        return client_of(scope, trusted_proxies=self.trusted_proxies, operators=self._operators)

    def check(self, client: str) -> None:
        """Take one token for a request, or raise TooManyRequests saying when to retry."""
        if self.per_minute == 0:
            return
        wait = self.store.take(client, self.per_minute)
        if wait <= 0:
            return
        raise TooManyRequests(
            f"more than {self.per_minute} requests a minute from this client; retry in {wait} s",
            retry_after=wait, limit_per_minute=self.per_minute,
        )

    def acquire_stream(self, client: str) -> None:
        """Count one more open stream for the client, or raise TooManyRequests at the cap."""
        n = self.store.acquire_stream(client, self.max_streams)
        if n <= 0:
            raise TooManyRequests(
                f"this client already has {-n} open streams, the most allowed; close one first",
                retry_after=STREAM_RETRY_AFTER_S, max_streams=self.max_streams,
            )

    def release_stream(self, client: str) -> None:
        self.store.release_stream(client)

    def open_streams(self, client: str) -> int:
        return self.store.open_streams(client)

    @asynccontextmanager
    async def stream(self, client: str) -> AsyncIterator[None]:
        """`async with limiter.stream(client):` holds one stream slot for the block."""
        self.acquire_stream(client)
        try:
            yield
        finally:
            self.release_stream(client)


def client_of(scope: Scope, *, trusted_proxies: tuple = (), operators: "OperatorIdentities | None" = None) -> str:
    """The client a limit applies to: `driver:<account>` or `operator:<principal>` when the request
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
        if key:
            who = (operators or OperatorIdentities()).of(platform, key.decode("latin-1"))
            if who is not None:
                return "operator:" + who
    return "ip:" + address_of(scope, headers, trusted_proxies)


class OperatorIdentities:
    """Who holds an X-Operator-Key, for counting only: a configured key's name, else the issued key's
    or console session's principal id (from the database, remembered for IDENTITY_TTL_S so a flood of
    requests costs one lookup; access itself is checked on every request by the operator routes).
    A key that is no one's is remembered as no one, so made-up keys fall back to the address."""

    def __init__(self, ttl_s: float = IDENTITY_TTL_S, size: int = IDENTITY_CACHE) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._seen: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, platform, key: str) -> str | None:  # noqa: ANN001
        name = platform.operator_keys.name_of(key)
        if name is not None:
            return name
        h = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(h)
            if hit is not None and hit[0] > now:
                return hit[1]
        from gateways.operator.permissions import principals_of  # the operator routes' own lookup

        principal = principals_of(platform).resolve(key)
        who = f"{principal.kind}:{principal.id}" if principal is not None else None
        with self._lock:
            self._seen[h] = (now + self.ttl_s, who)
            self._seen.move_to_end(h)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return who


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
