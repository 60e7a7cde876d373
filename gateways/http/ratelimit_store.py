"""Where the rate limiter keeps its counts: in this process, or in Redis so that every HTTP process
(`parking serve --http-workers M`, or M containers behind one balancer) shares one bucket and one
stream count per client.

Both stores hold the same token bucket (a burst of `per_minute`, refilled evenly over the minute)
and the same cap on open streams. In Redis the bucket is one hash per client, updated by one Lua
script on Redis's own clock (so processes on machines with different clocks agree); it expires once
it would be full again. A stream slot is a lease in a sorted set per client: a slot whose process
died without giving it back expires after `STREAM_LEASE_S`, and a thread in each process renews
the leases it holds.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

MAX_CLIENTS = 100_000  # in memory: past this many buckets, full ones (idle clients) are forgotten
STREAM_LEASE_S = 60  # in Redis: a stream slot not renewed for this long is given back
_REDIS_ERROR_LOG_EVERY_S = 60


class LimitStore(Protocol):
    def take(self, client: str, per_minute: int) -> int:
        """Take one token: 0 when there was one, else the whole seconds until there is."""

    def acquire_stream(self, client: str, max_streams: int) -> int:
        """Hold one more stream slot and return the client's count, or return -count at the cap."""

    def release_stream(self, client: str) -> None: ...

    def open_streams(self, client: str) -> int: ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class MemoryStore:
    """Counts in this process: right for one HTTP process (the embedded defaults)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, client: str, per_minute: int) -> int:
        rate = per_minute / 60.0
        with self._lock:
            now = self.clock()
            b = self._buckets.get(client)
            if b is None:
                if len(self._buckets) >= MAX_CLIENTS:
                    self._forget_idle(now, per_minute, rate)
                b = self._buckets[client] = _Bucket(float(per_minute), now)
            b.tokens = min(float(per_minute), b.tokens + (now - b.at) * rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0
            return max(1, math.ceil((1 - b.tokens) / rate))

    def _forget_idle(self, now: float, per_minute: int, rate: float) -> None:
        full = [c for c, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= per_minute]
        for c in full:
            del self._buckets[c]

    def acquire_stream(self, client: str, max_streams: int) -> int:
        with self._lock:
            n = self._streams.get(client, 0)
            if n >= max_streams:
                return -n
            self._streams[client] = n + 1
            return n + 1

    def release_stream(self, client: str) -> None:
        with self._lock:
            n = self._streams.get(client, 0) - 1
            if n > 0:
                self._streams[client] = n
            else:
                self._streams.pop(client, None)

    def open_streams(self, client: str) -> int:
        return self._streams.get(client, 0)


_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "

_TAKE = _NOW + """
local cap = tonumber(ARGV[1])
local rate = cap / 60
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.max(1, math.ceil((1 - tokens) / rate)) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], 61)
return wait
"""

_ACQUIRE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then return -n end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]) + 1)
return n + 1
"""

_RENEW = _NOW + """
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 1)
return 1
"""

_COUNT = _NOW + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


class RedisStore:
    """Counts in Redis, shared by every HTTP process that uses the same Redis and key prefix.

    If Redis cannot be reached the request is let through and the failure logged (at most once a
    minute): the limiter must not turn a Redis outage into a refusal of every request."""

    def __init__(self, client, *, prefix: str = "parking:", lease_s: int = STREAM_LEASE_S) -> None:  # noqa: ANN001
        self.r = client
        self.prefix = prefix + "ratelimit:"
        self.lease_s = lease_s
        self._take = client.register_script(_TAKE)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)
        self._held: dict[str, list[str]] = {}  # client -> slot ids this process holds
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._last_error_log = 0.0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "parking:") -> "RedisStore":
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix=prefix)

    def _bucket_key(self, client: str) -> str:
        return f"{self.prefix}bucket:{client}"

    def _streams_key(self, client: str) -> str:
        return f"{self.prefix}streams:{client}"

    def take(self, client: str, per_minute: int) -> int:
        try:
            return int(self._take(keys=[self._bucket_key(client)], args=[per_minute]))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: let the request through
            self._unavailable(exc)
            return 0

    def acquire_stream(self, client: str, max_streams: int) -> int:
        slot = uuid.uuid4().hex
        try:
            n = int(self._acquire(keys=[self._streams_key(client)], args=[max_streams, slot, self.lease_s]))
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)
            return 1
        if n > 0:
            with self._lock:
                self._held.setdefault(client, []).append(slot)
            self._start_renewer()
        return n

    def release_stream(self, client: str) -> None:
        with self._lock:
            slots = self._held.get(client)
            if not slots:
                return
            slot = slots.pop()
            if not slots:
                del self._held[client]
        try:
            self.r.zrem(self._streams_key(client), slot)
        except Exception as exc:  # noqa: BLE001 - the lease expires by itself
            self._unavailable(exc)

    def open_streams(self, client: str) -> int:
        try:
            return int(self._count(keys=[self._streams_key(client)]))
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)
            return 0

    def renew(self) -> None:
        """Extend every lease this process holds (the renewer thread calls it every third of a lease)."""
        with self._lock:
            held = [(c, s) for c, slots in self._held.items() for s in slots]
        for client, slot in held:
            try:
                self._renew(keys=[self._streams_key(client)], args=[slot, self.lease_s])
            except Exception as exc:  # noqa: BLE001
                self._unavailable(exc)
                return

    def _start_renewer(self) -> None:
        with self._lock:
            if self._renewer is not None:
                return
            self._renewer = threading.Thread(target=self._renew_forever, name="stream-lease-renewer", daemon=True)
        self._renewer.start()

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.lease_s / 3)
            self.renew()

    def _unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _REDIS_ERROR_LOG_EVERY_S:
            self._last_error_log = now
            log.warning("rate limits: Redis unavailable (%s), requests are let through unlimited", type(exc).__name__)
