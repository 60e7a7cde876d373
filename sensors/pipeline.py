"""The ingest pipeline, independent of MQTT: a batch of raw messages in, effects out.

For each batch: parse and check against the registry, apply to live state, append to the
event log (one transaction), then publish availability changes and rejections. Every
step is idempotent, so a batch that failed half-way is simply processed again and only
then acknowledged to the broker: nothing accepted is lost, nothing is counted twice.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
from sqlalchemy.exc import OperationalError, InterfaceError
from tenacity import Retrying, retry_if_exception, wait_exponential

from parking_core.availability import Availability, availability
from parking_core.db import UnitOfWork
from parking_core.directory import Directory
from parking_core.eventlog import append_availability, append_events, replay_events, upsert_devices
from parking_core.events import BerthReported, DeviceEvent, HeartbeatReported
from parking_core.live import LiveState, Outcome
from sensors.messages import Rejection, parse_message

log = logging.getLogger("parking.ingest")
REJECT_PAYLOAD_MAX = 4096

Publish = Callable[[str, bytes, bool], None]


@dataclass
class IngestStats:
    """Counters a person watching the ingest wants to see."""

    received: int = 0
    outcomes: Counter = field(default_factory=Counter)
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    batches: int = 0
    retries: int = 0
    published: int = 0

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "accepted": sum(self.outcomes.values()),
            "applied": self.outcomes[Outcome.APPLIED],
            "pending": self.outcomes[Outcome.PENDING],
            "unchanged": self.outcomes[Outcome.UNCHANGED],
            "duplicates": self.outcomes[Outcome.DUPLICATE],
            "stale": self.outcomes[Outcome.STALE],
            "rejected": self.rejected,
            "batches": self.batches,
            "retries": self.retries,
            "availability_published": self.published,
        }


def _transient(exc: BaseException) -> bool:
    """Errors of a dependency that comes back: retry them, never drop the batch."""
    import redis

    return isinstance(exc, (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError))


class IngestPipeline:
    def __init__(
        self,
        *,
        directory: Directory,
        live: LiveState,
        uow_factory: Callable[[], UnitOfWork],
        publish: Publish,
        topic_prefix: str,
        settle_s: float = 0.0,
        almost_full_ratio: float = 0.1,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_events: Callable[[Sequence[DeviceEvent]], None] | None = None,
        on_availability: Callable[[str, Availability], None] | None = None,
        max_retry_wait_s: float = 5.0,
    ) -> None:
        self.directory = directory
        self.live = live
        self.uow_factory = uow_factory
        self.publish = publish
        self.prefix = topic_prefix
        self.settle_s = settle_s
        self.almost_full_ratio = almost_full_ratio
        self.clock = clock
        self.on_events = on_events
        self.on_availability = on_availability
        self.stats = IngestStats()
        self._last_published: dict[str, tuple[int, int, str]] = {}
        self._heard: dict[tuple[str, str], HeartbeatReported] = {}  # devices' latest heartbeat, flushed by tick()
        self._lock = threading.Lock()
        self._max_wait = max_retry_wait_s

    # -- the batch -----------------------------------------------------------------
    def process(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Handle a batch completely or raise; safe to call again with the same batch."""
        with self._lock:
            now = self.clock()
            events: list[DeviceEvent] = []
            rejections: list[Rejection] = []
            for topic, payload in messages:
                item = parse_message(topic, payload, self.prefix, now=now)
                if isinstance(item, Rejection):
                    rejections.append(item)
                    continue
                problem = self._unknown(item)
                if problem:
                    rejections.append(Rejection(topic, payload, problem, "_" if item.lot_id not in self.directory.lots else item.lot_id))
                    continue
                events.append(item)
            self.stats.received += len(messages)
            results = self._retry(lambda: self._apply_live(events, now))
            changed = {ev.lot_id for ev, (_, ch) in zip(events, results) if ch}
            changes = self._availability_changes(changed, now)
            self._retry(lambda: self._log(events, changes, now))
            for ev, (outcome, _) in zip(events, results):
                self.stats.outcomes[outcome] += 1
                if isinstance(ev, HeartbeatReported):
                    key = (ev.lot_id, ev.device_id)
                    if key not in self._heard or ev.ts > self._heard[key].ts:
                        self._heard[key] = ev
            self._publish_changes(changes, now)
            for rej in rejections:
                self._reject(rej, now)
            if self.on_events and events:
                self._retry(lambda: self.on_events(events))
            self.stats.batches += 1

    def _unknown(self, ev: DeviceEvent) -> str | None:
        if ev.lot_id not in self.directory.lots:
            return f"unknown lot {ev.lot_id!r}"
        if isinstance(ev, BerthReported) and not self.directory.has_berth(ev.lot_id, ev.berth_id):
            return f"unknown berth {ev.berth_id!r} in lot {ev.lot_id!r}"
        return None

    def _retry(self, fn):
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential(multiplier=0.05, max=self._max_wait),
            before_sleep=self._note_retry,
            reraise=True,
        ):
            with attempt:
                return fn()

    def _note_retry(self, state) -> None:  # noqa: ANN001
        self.stats.retries += 1
        log.warning("ingest retrying after %s", state.outcome.exception())

    def _log(self, events: Sequence[DeviceEvent], changes: list[tuple[str, datetime, Availability]], now: datetime) -> None:
        with self.uow_factory() as uow:
            append_events(uow.session, events, now)
            append_availability(uow.session, changes)
            uow.commit()

    # -- time-driven work ------------------------------------------------------------
    def tick(self, heartbeat_timeout_s: float) -> set[str]:
        """Settle due berth changes, mark silent devices unknown, notice shared-hours edges."""
        with self._lock:
            now = self.clock()
            t = now.timestamp()
            changed = self._retry(lambda: self._ensure_live_state() or self.live.promote_due(t) | self.live.sweep_silent(t - heartbeat_timeout_s))
            changed |= {i for i, info in self.directory.lots.items() if info.shared_hours is not None}
            changes = self._availability_changes(changed, now)
            if changes:
                self._retry(lambda: self._log([], changes, now))
                self._publish_changes(changes, now)
            self._flush_devices()
            return {lot for lot, _, _ in changes}

    def _flush_devices(self) -> None:
        beats, self._heard = list(self._heard.values()), {}
        if beats:
            def write() -> None:
                with self.uow_factory() as uow:
                    upsert_devices(uow.session, beats)
                    uow.commit()

            self._retry(write)

    # -- live state rebuilding -------------------------------------------------------
    def _ensure_live_state(self) -> None:
        if not self.live.is_configured():
            self.rebuild()

    def _apply_live(self, events: Sequence[DeviceEvent], now: datetime) -> list:
        """Apply, rebuilding first if the store lost its data; LiveStateLost makes the retry rebuild."""
        self._ensure_live_state()
        return self.live.apply(events, settle_s=self.settle_s, now=now.timestamp())

    def rebuild(self) -> int:
        """Refill live state from the registry and the event log (a restart, a lost Redis).
        One worker at a time; the store is marked ready only once the log is replayed."""
        with self.live.rebuild_lock():
            if self.live.is_configured():
                return 0  # another worker just did it
            now = self.clock()
            self.live.clear()
            self.live.configure(self.directory.lots.values(), ready=False)
            with self.uow_factory() as uow:
                events = [e for e in replay_events(uow.session, now) if not self._unknown(e)]
            for i in range(0, len(events), 5000):
                self.live.apply(events[i:i + 5000], settle_s=0, now=now.timestamp(), rebuilding=True)
            self.live.mark_ready()
        self._last_published.clear()
        log.info("live state rebuilt from %d logged events", len(events))
        return len(events)

    # -- output ------------------------------------------------------------------------
    def _availability_changes(self, lot_ids: set[str], now: datetime) -> list[tuple[str, datetime, Availability]]:
        if not lot_ids:
            return []
        ids = sorted(lot_ids)
        live = self._retry(lambda: self.live.lots(ids))
        out = []
        for lot_id in ids:
            info = self.directory.get(lot_id)
            if info is None:
                continue
            a = availability(info, live.get(lot_id), now, almost_full_ratio=self.almost_full_ratio)
            key = (a.free, a.total, a.status)
            if self._last_published.get(lot_id) == key:
                continue
            self._last_published[lot_id] = key
            out.append((lot_id, a.updated_at or now, a))
        return out

    def _publish_changes(self, changes: list[tuple[str, datetime, Availability]], now: datetime) -> None:
        for lot_id, _, a in changes:
            self.publish(f"{self.prefix}/lots/{lot_id}/availability", orjson.dumps(a.as_message(now)), True)
            self.stats.published += 1
            if self.on_availability is not None:
                self.on_availability(lot_id, a)

    def _reject(self, rej: Rejection, now: datetime) -> None:
        self.stats.rejected += 1
        self.stats.reasons[rej.reason.split(":")[0][:60]] += 1
        raw = rej.payload[:REJECT_PAYLOAD_MAX]
        try:
            shown: object = orjson.loads(raw)
        except orjson.JSONDecodeError:
            shown = raw.decode("utf-8", errors="replace")
        body = {"topic": rej.topic, "payload": shown, "reason": rej.reason, "ts": now.isoformat()}
        self.publish(f"{self.prefix}/rejected/{rej.lot_id}", orjson.dumps(body), False)

