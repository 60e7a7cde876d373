"""In-process live state for the embedded default and tests; same rules as the Redis backend."""
from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from parking_core.clock import local
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.live.base import BerthView, LiveLot, LiveState, Outcome, to_dt
from parking_core.lots import LotInfo

PASSAGE_MEMORY_DAYS = 3


@dataclass(slots=True)
class _Berth:
    state: str = ""  # "F" free, "O" occupied, "" never reported
    since: float = 0.0
    seq: int = -1
    stale: bool = False
    pend: str = ""  # a change waiting to settle
    pts: float = 0.0  # when the pending change happened (event time)
    due: float = 0.0  # when it settles

    def effective(self) -> str:
        if self.stale or not self.state:
            return "unknown"
        return "free" if self.state == "F" else "occupied"


@dataclass
class _Lot:
    total: int
    sensors: bool
    free: int = 0
    inside: int = 0
    known: int = 0  # sensor lots: berths with a known state; others: 1 once counted and not silent
    counted: bool = False  # lots without sensors: a passage or counts report has set the count
    upd: float = 0.0
    seen: float = 0.0
    cts: float = 0.0
    berths: dict[str, _Berth] = field(default_factory=dict)
    passages: dict[str, set[str]] = field(default_factory=dict)


class MemoryLiveState(LiveState):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._lots: dict[str, _Lot] = {}
        self._due: list[tuple[float, str, str]] = []
        self._seen: dict[tuple[str, str], float] = {}  # berth -> last heard (event time)
        self._silence: list[tuple[float, str, str]] = []  # one (heard at, lot, berth) per tracked berth, a heap
        self._configured = False

    # -- registry ------------------------------------------------------------
    def configure(self, lots: Iterable[LotInfo], *, ready: bool = True) -> None:
        with self._lock:
            for info in lots:
                rec = self._lots.get(info.id)
                if rec is None:
                    rec = self._lots[info.id] = _Lot(total=info.total, sensors=info.has_sensors)
                rec.total, rec.sensors = info.total, info.has_sensors
                wanted = set(info.berths)
                for gone in set(rec.berths) - wanted:
                    del rec.berths[gone]
                    self._seen.pop((info.id, gone), None)
                for b in info.berths:
                    rec.berths.setdefault(b, _Berth())
                if rec.sensors:
                    self._recount(rec)
                else:
                    rec.free = max(0, rec.total - rec.inside)
            self._configured = self._configured or ready

    def mark_ready(self) -> None:
        self._configured = True

    def rebuild_lock(self):
        return self._lock

    @staticmethod
    def _recount(rec: _Lot) -> None:
        states = [b.effective() for b in rec.berths.values()]
        rec.free = states.count("free")
        rec.known = len(states) - states.count("unknown")

    # -- writes ----------------------------------------------------------------
    def apply(self, events: Sequence[DeviceEvent], *, settle_s: float, now: float, rebuilding: bool = False) -> list[tuple[Outcome, bool]]:
        out: list[tuple[Outcome, bool]] = []
        with self._lock:
            for ev in events:
                rec = self._lots.get(ev.lot_id)
                if rec is None:
                    raise KeyError(ev.lot_id)
                ts = min(ev.ts.timestamp(), now)
                rec.seen = max(rec.seen, ts)
                if isinstance(ev, BerthReported):
                    out.append(self._berth(ev.lot_id, rec, ev, ts, settle_s, now))
                elif isinstance(ev, PassageReported):
                    out.append(self._passage(rec, ev, ts))
                elif isinstance(ev, CountsReported):
                    out.append(self._counts(rec, ev, ts))
                elif isinstance(ev, HeartbeatReported):
                    out.append(self._heartbeat(ev.lot_id, rec, ev, ts))
        return out

    def _touch(self, lot_id: str, berth_id: str, b: _Berth, ts: float) -> bool:
        """Refresh a berth's liveness; True when it thereby stops being unknown."""
        key = (lot_id, berth_id)
        last = self._seen.get(key)
        if last is None:
            heapq.heappush(self._silence, (ts, lot_id, berth_id))
        if last is None or ts >= last:
            self._seen[key] = ts
        if b.stale:
            b.stale = False
            return True
        return False

    def _set_state(self, rec: _Lot, b: _Berth, state: str, since: float, stale: bool | None = None) -> bool:
        before = b.effective()
        b.state, b.since = state, since
        if stale is not None:
            b.stale = stale
        return self._account(rec, before, b.effective(), since)

    @staticmethod
    def _account(rec: _Lot, before: str, after: str, at: float) -> bool:
        if before == after:
            return False
        rec.free += (after == "free") - (before == "free")
        rec.known += (after != "unknown") - (before != "unknown")
        rec.upd = max(rec.upd, at)
        return True

    def _berth(self, lot_id: str, rec: _Lot, ev: BerthReported, ts: float, settle_s: float, now: float) -> tuple[Outcome, bool]:
        b = rec.berths.get(ev.berth_id)
        if b is None:
            raise KeyError(f"{lot_id}/{ev.berth_id}")
        if ev.seq <= b.seq:
            return Outcome.DUPLICATE, False
        b.seq = ev.seq
        before = b.effective()
        self._touch(lot_id, ev.berth_id, b, ts)
        changed = self._account(rec, before, b.effective(), ts)
        new = "O" if ev.occupied else "F"
        if settle_s > 0 and b.pend and ts >= b.pts + settle_s:
            changed = self._set_state(rec, b, b.pend, b.pts) or changed
            b.pend = ""
        if settle_s <= 0 or not b.state:
            b.pend = ""
            if new == b.state:
                return (Outcome.APPLIED if changed else Outcome.UNCHANGED), changed
            self._set_state(rec, b, new, ts)
            return Outcome.APPLIED, True
        if new == b.state:
            b.pend = ""
            return (Outcome.APPLIED if changed else Outcome.UNCHANGED), changed
        if new != b.pend:
            b.pend, b.pts, b.due = new, ts, min(ts, now) + settle_s
            heapq.heappush(self._due, (b.due, lot_id, ev.berth_id))
        return Outcome.PENDING, changed

    def _passage(self, rec: _Lot, ev: PassageReported, ts: float) -> tuple[Outcome, bool]:
        day = local(ev.ts).strftime("%Y%m%d")
        ids = rec.passages.setdefault(day, set())
        if ev.event_id in ids:
            return Outcome.DUPLICATE, False
        ids.add(ev.event_id)
        if len(rec.passages) > PASSAGE_MEMORY_DAYS:
            del rec.passages[min(rec.passages)]
        rec.counted = True
        revived = self._revive_lot(rec)
        rec.inside = max(0, rec.inside + (1 if ev.direction == "in" else -1))
        if rec.sensors:
            return Outcome.APPLIED, revived
        free = max(0, rec.total - rec.inside)
        changed = free != rec.free or revived
        rec.free = free
        if changed:
            rec.upd = max(rec.upd, ts)
        return Outcome.APPLIED, changed

    @staticmethod
    def _revive_lot(rec: _Lot) -> bool:
        """A counted lot without sensors is known again once anything is heard from it."""
        if rec.sensors or rec.known or not rec.counted:
            return False
        rec.known = 1
        return True

    def _counts(self, rec: _Lot, ev: CountsReported, ts: float) -> tuple[Outcome, bool]:
        if rec.sensors:
            return Outcome.UNCHANGED, False
        if ts <= rec.cts or ts < rec.upd:
            return Outcome.STALE, False
        rec.cts = ts
        rec.counted = True
        revived = self._revive_lot(rec)
        rec.inside = max(0, ev.total - ev.free)
        changed = revived or (rec.free, rec.total) != (ev.free, ev.total)
        rec.free, rec.total = ev.free, ev.total
        rec.upd = ts
        return Outcome.APPLIED, changed

    def _heartbeat(self, lot_id: str, rec: _Lot, ev: HeartbeatReported, ts: float) -> tuple[Outcome, bool]:
        b = rec.berths.get(ev.device_id)
        if b is None:
            return Outcome.UNCHANGED, self._revive_lot(rec)
        before = b.effective()
        if self._touch(lot_id, ev.device_id, b, ts) and self._account(rec, before, b.effective(), ts):
            return Outcome.APPLIED, True  # a silent berth with a known state is counted again
        return Outcome.UNCHANGED, False

    def promote_due(self, now: float) -> set[str]:
        changed: set[str] = set()
        with self._lock:
            while self._due and self._due[0][0] <= now:
                _, lot_id, berth_id = heapq.heappop(self._due)
                rec = self._lots.get(lot_id)
                b = rec.berths.get(berth_id) if rec else None
                if b is None or not b.pend or b.due > now:
                    continue
                pend, b.pend = b.pend, ""
                if pend != b.state and self._set_state(rec, b, pend, b.pts):
                    changed.add(lot_id)
        return changed

    def sweep_silent(self, cutoff: float) -> set[str]:
        changed: set[str] = set()
        with self._lock:
            # the heap's entry may be older than the berth's last report (a late, older event arriving
            # after a newer one must not hide it): such an entry goes back in at the berth's latest time
            while self._silence and self._silence[0][0] < cutoff:
                _, lot_id, berth_id = heapq.heappop(self._silence)
                ts = self._seen.get((lot_id, berth_id))
                if ts is None:
                    continue  # berth removed from the registry
                if ts >= cutoff:
                    heapq.heappush(self._silence, (ts, lot_id, berth_id))
                    continue
                del self._seen[(lot_id, berth_id)]
                rec = self._lots.get(lot_id)
                b = rec.berths.get(berth_id) if rec else None
                if b is None or b.stale:
                    continue
                before = b.effective()
                b.stale = True
                if self._account(rec, before, b.effective(), cutoff):
                    changed.add(lot_id)
            for lot_id, rec in self._lots.items():
                if not rec.sensors and rec.known and rec.seen < cutoff:
                    rec.known = 0
                    changed.add(lot_id)
        return changed

    # -- reads -----------------------------------------------------------------
    def _view(self, rec: _Lot) -> LiveLot:
        return LiveLot(
            free=rec.free, total=rec.total, known=rec.known > 0, updated_at=to_dt(rec.upd), last_seen=to_dt(rec.seen),
            known_berths=rec.known if rec.sensors else 0, berths=len(rec.berths),
        )

    def lot(self, lot_id: str) -> LiveLot | None:
        with self._lock:
            rec = self._lots.get(lot_id)
            return self._view(rec) if rec else None

    def lots(self, lot_ids: Sequence[str]) -> dict[str, LiveLot]:
        with self._lock:
            return {i: self._view(self._lots[i]) for i in lot_ids if i in self._lots}

    def berths(self, lot_id: str) -> list[BerthView]:
        with self._lock:
            rec = self._lots.get(lot_id)
            if rec is None:
                return []
            return [BerthView(id=k, status=b.effective(), since=to_dt(b.since)) for k, b in sorted(rec.berths.items())]

    def is_configured(self) -> bool:
        return self._configured

    def clear(self) -> None:
        with self._lock:
            self._lots.clear()
            self._due.clear()
            self._seen.clear()
            self._silence.clear()
            self._configured = False
