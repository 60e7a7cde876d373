"""The event that makes debts follow a plate's verified owner (handled by billing/plate_owner_moves.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parking_core.domain_events import Event


@dataclass(frozen=True, slots=True)
class PlateOwnerChanged(Event):
    """`account_id` is now the plate's verified owner: a dispute moved the plate to it (`previous_account_id` lost
    it), or its ownership evidence was approved. Recorded in the transaction that made the change."""

    plate: str
    account_id: str
    previous_account_id: str | None
    reason: str
    actor: str
    at: datetime


__all__ = ["PlateOwnerChanged"]
