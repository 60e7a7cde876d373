"""Fan-out of availability changes from the ingest thread to the live streams of web clients.

The ingest calls `publish` from its own thread on every change of a lot's free count or
status. Each subscription belongs to an asyncio loop, so a change crosses over with
`loop.call_soon_threadsafe` and lands in a bounded queue per client: a client that reads
too slowly loses its oldest changes, never the newest, and is told how many it lost.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import orjson
from sse_starlette import ServerSentEvent

from parking_core.availability import Availability

QUEUE_SIZE = 256
KEEPALIVE_S = 15.0


def availability_event(lot_id: str, a: Availability, now: datetime) -> bytes:
    """One `availability` event as sent on the wire, encoded once for every client."""
    data = orjson.dumps({"lot_id": lot_id, **a.as_message(now)}).decode()
    return ServerSentEvent(data=data, event="availability").encode()


@dataclass(frozen=True)
class Change:
    seq: int  # order of publication, to tell changes a snapshot already shows
    lot_id: str
    key: tuple[int, int, str]  # (free, total, status): what a client sees
    frame: bytes


@dataclass(frozen=True)
class Dropped:
    """Changes this client lost because it read too slowly."""

    count: int


class Subscription:
    """One client's watch: the lots it follows and its bounded queue of changes."""

    def __init__(self, lot_ids: Iterable[str], loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.lot_ids = frozenset(lot_ids)
        self.loop = loop
        self.since = 0  # changes up to this seq were published before the client's snapshot
        self._size = size
        self._queue: deque[Change] = deque()
        self._dropped = 0
        self._wake = asyncio.Event()
        self.closed = False

    def put(self, change: Change) -> None:
        """Queue a change (in the subscription's loop); full: drop the oldest."""
        if len(self._queue) >= self._size:
            self._queue.popleft()
            self._dropped += 1
        self._queue.append(change)
        self._wake.set()

    async def get(self) -> list[Change | Dropped]:
        """Every change queued (waiting for one), led by a `Dropped` when some were lost since the last call."""
        while not self._queue:
            self._wake.clear()
            await self._wake.wait()
        batch: list[Change | Dropped] = [Dropped(self._dropped)] if self._dropped else []
        batch.extend(self._queue)
        self._queue.clear()
        self._dropped = 0
        return batch


class Hub:
    def __init__(self, *, clock: Callable[[], datetime], queue_size: int = QUEUE_SIZE, keepalive_s: float = KEEPALIVE_S) -> None:
        self.clock = clock
        self.queue_size = queue_size
        self.keepalive_s = keepalive_s
        self._by_lot: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()  # the index is read by the ingest thread, changed by loops
        self._counter = itertools.count(1)
        self.last_seq = 0

    def publish(self, lot_id: str, a: Availability) -> None:
        """Called from the ingest thread; hands the change to each watching client's loop."""
        seq = next(self._counter)
        self.last_seq = seq
        with self._lock:
            watching = self._by_lot.get(lot_id)
            if not watching:
                return
            by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
            for sub in watching:
                by_loop.setdefault(sub.loop, []).append(sub)
        change = Change(seq, lot_id, (a.free, a.total, a.status), availability_event(lot_id, a, self.clock()))
        for loop, subs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, subs, change)
            except RuntimeError:  # that loop has closed, and its clients with it
                pass

    @asynccontextmanager
    async def subscription(self, lot_ids: Iterable[str]) -> AsyncIterator[Subscription]:
        """Watch lots until the block ends; registered before `since` is read, so no change falls between."""
        sub = Subscription(lot_ids, asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            for lot_id in sub.lot_ids:
                self._by_lot.setdefault(lot_id, set()).add(sub)
        sub.since = self.last_seq
        try:
            yield sub
        finally:
            sub.closed = True
            with self._lock:
                for lot_id in sub.lot_ids:
                    watching = self._by_lot.get(lot_id)
                    if watching is not None:
                        watching.discard(sub)
                        if not watching:
                            del self._by_lot[lot_id]

    def watchers(self, lot_id: str | None = None) -> int:
        """Open subscriptions watching a lot, or all of them."""
        with self._lock:
            if lot_id is not None:
                return len(self._by_lot.get(lot_id, ()))
            return len({sub for subs in self._by_lot.values() for sub in subs})


def _deliver(subs: list[Subscription], change: Change) -> None:
    for sub in subs:
        if not sub.closed:
            sub.put(change)
