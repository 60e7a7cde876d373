"""The ingest pipeline, independent of MQTT: a batch of raw messages in, effects out.

For each batch: parse and check against the registry, apply to live state, append to the
event log (one transaction), then publish availability changes and rejections. Every
step is idempotent, so a batch that failed half-way is simply processed again and only
then acknowledged to the broker: nothing accepted is lost, nothing is counted twice.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import Retrying, retry_if_exception, wait_exponential

from parking_core.availability import Availability, AvailabilityRules, read_availability
from parking_core.db import UnitOfWork
from parking_core.directory import Directory
from parking_core.eventlog import append_availability, append_events, replay_events, upsert_devices
from parking_core.events import BerthReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.live import LiveState, Outcome
from sensors.messages import Rejection, parse_message
from sensors.topics import UNKNOWN_LOT, topics_of

log = logging.getLogger("parking.ingest")
REJECT_PAYLOAD_MAX = 4096

Publish = Callable[[str, bytes, bool], None]
STAY_EVENTS = (PassageReported, BerthReported)  # what parking stays react to


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
        rules: AvailabilityRules | None = None,  # every availability rule; default: these ratios and the default timeout
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_events: Callable[[UnitOfWork, Sequence[DeviceEvent]], None] | None = None,
        on_availability: Callable[[str, Availability], None] | None = None,
        max_retry_wait_s: float = 5.0,
    ) -> None:
        self.directory = directory
        self.live = live
        self.uow_factory = uow_factory
        self.publish = publish
        self.topics = topics_of(topic_prefix)
        self.settle_s = settle_s
        self.rules = rules or AvailabilityRules(almost_full_ratio=almost_full_ratio)
        self.clock = clock
        self.on_events = on_events  # runs in the event log's unit of work (stays; their events' handlers: orders)
        self.on_availability = on_availability
        self.stats = IngestStats()
        self._last_published: dict[str, tuple[int, int, str]] = {}
        self._heard: dict[tuple[str, str], HeartbeatReported] = {}  # devices' latest heartbeat, flushed by tick()
        self._lock = threading.Lock()
        self._first_outcomes: dict[int, tuple[Outcome, bool]] = {}  # while a failing batch is split
        self._max_wait = max_retry_wait_s

    # -- the batch -----------------------------------------------------------------
    def process(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Handle a batch completely or raise; safe to call again with the same batch.

        A dependency outage is retried until it passes (nothing is acknowledged meanwhile).
        Any other failure is the fault of some message: the batch is split until that message
        stands alone, the rest is applied, and the culprit goes to the dead-letter topic, so
        one message a handler cannot take never stops the ingest."""
        with self._lock:
            try:
                self._process(messages)
            except Exception as exc:
                if _transient(exc):
                    raise
                self._isolate(messages, exc)
                self._emit(self._lots_of(messages), self.clock())  # changes the failed runs did not publish
            finally:
                self._first_outcomes.clear()

    def _process(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Every fallible step first, then what is seen outside (publishing, counters), so a
        run that raises half-way leaves nothing to undo but idempotent writes."""
        now = self.clock()
        events: list[DeviceEvent] = []
        sources: list[int] = []  # which message each event came from (the same objects across re-runs)
        rejections: list[Rejection] = []
        for message in messages:
            topic, payload = message
            item = parse_message(topic, payload, self.topics, now=now)
            if isinstance(item, Rejection):
                rejections.append(item)
                continue
            problem = self._unknown(item)
            if problem:
                rejections.append(Rejection(topic, payload, problem, item.lot_id if item.lot_id in self.directory.lots else UNKNOWN_LOT))
                continue
            events.append(item)
            sources.append(id(message))
        results = self._retry(lambda: self._apply_live(events, now))
        for k, (outcome, _) in enumerate(results):  # a re-run after a failure: what the first run did is the truth
            first = self._first_outcomes.get(sources[k])
            if first is not None and outcome is Outcome.DUPLICATE:
                results[k] = first
        changed = {ev.lot_id for ev, (_, ch) in zip(events, results) if ch}
        remembered = {lot: self._last_published.get(lot) for lot in changed}
        try:
            changes = self._availability_changes(changed, now)
            self._retry(lambda: self._log(events, changes, now))
        except BaseException:
            for k, result in enumerate(results):
                self._first_outcomes.setdefault(sources[k], result)
            for lot, key in remembered.items():  # not published after all: let the next run publish it
                if key is None:
                    self._last_published.pop(lot, None)
                else:
                    self._last_published[lot] = key
            raise
        self.stats.received += len(messages)
        for ev, (outcome, _) in zip(events, results):
            self.stats.outcomes[outcome] += 1
            if isinstance(ev, HeartbeatReported):
                key = (ev.lot_id, ev.device_id)
                if key not in self._heard or ev.ts > self._heard[key].ts:
                    self._heard[key] = ev
        self._publish_changes(changes, now)
        for rej in rejections:
            self._reject(rej, now)
        self.stats.batches += 1

    def _isolate(self, messages: Sequence[tuple[str, bytes]], exc: Exception) -> None:
        """Halve a failing batch until the message that fails stands alone; apply the rest."""
        if len(messages) == 1:
            self._dead_letter(messages[0], exc)
            return
        mid = len(messages) // 2
        for half in (messages[:mid], messages[mid:]):
            try:
                self._process(half)
            except Exception as again:
                if _transient(again):
                    raise
                self._isolate(half, again)

    def _dead_letter(self, message: tuple[str, bytes], exc: Exception) -> None:
        """Reject a message no handler could take, with an error id that finds its traceback in the log."""
        topic, payload = message
        error_id = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s; message dead-lettered", error_id, topic, exc_info=exc)
        lot_id = self._known_lot_of(topic) or UNKNOWN_LOT
        self.stats.received += 1
        self._reject(Rejection(topic, payload, f"internal error: {type(exc).__name__} (error id {error_id})", lot_id), self.clock(), error_id=error_id)

    def _lots_of(self, messages: Sequence[tuple[str, bytes]]) -> set[str]:
        return {lot for topic, _ in messages if (lot := self._known_lot_of(topic))}

    def _known_lot_of(self, topic: str) -> str | None:
        lot_id = self.topics.lot_of(topic)
        return lot_id if lot_id in self.directory.lots else None

    def _emit(self, lot_ids: set[str], now: datetime) -> list[tuple[str, datetime, Availability]]:
        """Log and publish the availability of these lots where it differs from what was published."""
        changes = self._availability_changes(lot_ids, now)
        if changes:
            self._retry(lambda: self._log([], changes, now))
            self._publish_changes(changes, now)
        return changes

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
        """One transaction: the events, the availability history, and what the events mean for stays."""
        with self.uow_factory() as uow:
            fresh = append_events(uow.session, events, now)
            append_availability(uow.session, changes)
            if self.on_events is not None and (fresh := [e for e in fresh if isinstance(e, STAY_EVENTS)]):
                self.on_events(uow, fresh)
            uow.commit()

    # -- time-driven work ------------------------------------------------------------
    def tick(self, heartbeat_timeout_s: float | None = None) -> set[str]:
        """Settle due berth changes, mark silent devices unknown (their lots' retained topic then
        says `unknown`), notice shared-hours edges. The timeout defaults to the rules' one."""
        timeout = self.rules.heartbeat_timeout_s if heartbeat_timeout_s is None else heartbeat_timeout_s
        with self._lock:
            now = self.clock()
            t = now.timestamp()
            changed = self._retry(lambda: self._ensure_live_state() or self.live.promote_due(t) | self.live.sweep_silent(t - timeout))
            changed |= {i for i, info in self.directory.lots.items() if info.shared_hours is not None}
            changes = self._emit(changed, now)
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
        read = self._retry(lambda: list(read_availability(self.directory.lots, self.live, ids, now, self.rules)))
        out = []
        for info, a in read:
            lot_id = info.id
            key = (a.free, a.total, a.status)
            if self._last_published.get(lot_id) == key:
                continue
            self._last_published[lot_id] = key
            out.append((lot_id, now if a.status == "unknown" else a.updated_at or now, a))  # going silent happens now
        return out

    def _publish_changes(self, changes: list[tuple[str, datetime, Availability]], now: datetime) -> None:
        for lot_id, _, a in changes:
            self.publish(self.topics.availability(lot_id), orjson.dumps(a.as_message(now)), True)
            self.stats.published += 1
            if self.on_availability is not None:
                self.on_availability(lot_id, a)

    def _reject(self, rej: Rejection, now: datetime, *, error_id: str | None = None) -> None:
        self.stats.rejected += 1
        self.stats.reasons[rej.reason.split(":")[0][:60]] += 1
        raw = rej.payload[:REJECT_PAYLOAD_MAX]
        try:
            shown: object = orjson.loads(raw)
        except orjson.JSONDecodeError:
            shown = raw.decode("utf-8", errors="replace")
        body = {"topic": rej.topic, "payload": shown, "reason": rej.reason, "ts": now.isoformat()}
        if error_id is not None:
            body["error_id"] = error_id
        self.publish(self.topics.rejected(rej.lot_id), orjson.dumps(body), False)

