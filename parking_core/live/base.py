"""The live state contract both backends keep (see tests/live/test_contract.py).

Rules (contract section 2): a berth report whose seq is not above the last one seen is a
duplicate; a passage whose event_id was seen is a duplicate; a counts report sets the free
count only when newer than the lot's last change; berth changes settle for `settle_s`
(event time) before they count; a berth silent past the heartbeat timeout is unknown. A lot
without berth sensors is known only once a passage or counts report has set its count (a
device heartbeat alone says the device lives, not how many cars are inside), and until it
falls silent.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from parking_core.events import DeviceEvent
from parking_core.lots import LotInfo


class LiveStateLost(ConnectionError):
    """The store lost its data (a Redis restart): rebuild, then try again."""


class Outcome(str, enum.Enum):
    APPLIED = "applied"  # changed live state
    PENDING = "pending"  # a berth change waiting to settle
    UNCHANGED = "unchanged"  # valid and new, but nothing to change (same state, a heartbeat)
    DUPLICATE = "duplicate"  # seen before (seq not increasing, event_id seen)
    STALE = "stale"  # older than what is already applied (counts)


@dataclass(frozen=True)
class LiveLot:
    free: int  # sensor lots: free known berths; others: total minus vehicles inside
    total: int
    known: bool  # sensor lots: some berth is known; others: a count was received and the lot is not silent
    updated_at: datetime | None  # last change of free/total
    last_seen: datetime | None  # last message of any kind (event time)
    known_berths: int = 0  # sensor lots: berths reported and not silent
    berths: int = 0  # sensor lots: berths with a sensor; 0 for lots without


@dataclass(frozen=True)
class BerthView:
    id: str
    status: str  # free | occupied | unknown
    since: datetime | None


def to_dt(epoch: float | None) -> datetime | None:
    if epoch is None or epoch <= 0:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


class LiveState(ABC):
    """Availability as it is now; every write is idempotent so re-delivery is harmless."""

    @abstractmethod
    def configure(self, lots: Iterable[LotInfo], *, ready: bool = True) -> None:
        """Register lots and berths; keeps the live state of those already known.
        With ready=False the store stays marked as not ready (a rebuild is under way)."""

    @abstractmethod
    def mark_ready(self) -> None:
        """Declare the state complete (after a rebuild has replayed the log)."""

    @abstractmethod
    def rebuild_lock(self):
        """A context manager held by whoever rebuilds, so workers rebuild one at a time."""

    @abstractmethod
    def apply(self, events: Sequence[DeviceEvent], *, settle_s: float, now: float, rebuilding: bool = False) -> list[tuple[Outcome, bool]]:
        """Apply accepted events in order; per event its outcome and whether its lot changed.
        Outside a rebuild, a store that lost its data raises LiveStateLost."""

    @abstractmethod
    def promote_due(self, now: float) -> set[str]:
        """Apply berth changes that have settled by `now`; the lots that changed."""

    @abstractmethod
    def sweep_silent(self, cutoff: float) -> set[str]:
        """Mark berths silent since before `cutoff` unknown; the lots that changed."""

    @abstractmethod
    def lot(self, lot_id: str) -> LiveLot | None: ...

    @abstractmethod
    def lots(self, lot_ids: Sequence[str]) -> dict[str, LiveLot]: ...

    @abstractmethod
    def berths(self, lot_id: str) -> list[BerthView]: ...

    @abstractmethod
    def is_configured(self) -> bool:
        """False after the store lost its data (a Redis restart): the caller rebuilds."""

    @abstractmethod
    def clear(self) -> None:
        """Forget everything (tests, rebuilds)."""

    def ping(self) -> bool:
        return True

    def close(self) -> None:  # noqa: B027 - optional: only stores that hold connections override it
        """Release connections."""
