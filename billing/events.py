"""What happened in billing, in the past tense; recorded on the unit of work (parking_core/messagebus.py).
Values only, no ORM rows: after-commit handlers read them once the transaction is over."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parking_core.domain_events import Event


@dataclass(frozen=True, slots=True)
class OrderCreated(Event):
    """A closed stay's order. `charge_due`: the payment worker has a withholding charge to make now."""

    order_id: str
    stay_id: str
    lot_id: str
    plate: str
    amount_fen: int
    charge_due: bool


@dataclass(frozen=True, slots=True)
class OrderRepriced(Event):
    """A corrected stay changed what its unpaid order costs."""

    order_id: str
    amount_fen: int
    charge_due: bool


@dataclass(frozen=True, slots=True)
class PaymentRecorded(Event):
    order_id: str
    account_id: str | None
    lot_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class OrderLeftUnpaid(Event):
    """The order is owed and will not be charged by itself: a charge failed (`tried`) or there is no agreement."""

    order_id: str
    account_id: str | None
    lot_id: str
    owed_fen: int
    due_at: datetime
    reason: str | None
    tried: bool


@dataclass(frozen=True, slots=True)
class RefundRecorded(Event):
    order_id: str
    account_id: str | None
    amount_fen: int
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFellIntoArrears(Event):
    """Unpaid past its due date (欠费)."""

    order_id: str
    account_id: str | None
    lot_id: str
    owed_fen: int


@dataclass(frozen=True, slots=True)
class ArrearsFoundAtEntry(Event):
    """A plate that owes entered a car park: its gate and the accounts involved are told, after the entry commits."""

    stay_id: str
    lot_id: str
    plate: str
    count: int
    total_fen: int
    order_ids: tuple[str, ...]
    account_ids: tuple[str, ...]
    at: datetime
