"""Arrears (欠费): unpaid orders past their due date become arrears, and a plate that owes anything is
found when it next enters any car park (`ArrearsFoundAtEntry`: the car park's gate and its driver are told
after the entry commits, by handlers declared in billing/handlers.py and gateways/bootstrap.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing.events import ArrearsFoundAtEntry, OrderFellIntoArrears
from billing.models import Order
from billing.order_tx import move, write_lock
from parking_core.accounts import owner_of
from parking_core.db import UnitOfWork
from parking_core.domain_events import VehicleEntered
from parking_core.plates import normalize_plate


@dataclass(frozen=True)
class PlateArrears:
    """What a plate owes now: orders in arrears and unpaid orders already past due."""

    plate: str
    orders: list[Order] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.orders)

    @property
    def total_fen(self) -> int:
        return sum(o.amount_fen - o.paid_fen for o in self.orders)


def owed_now(now: datetime):
    """The condition for an order its driver should already have paid."""
    return and_(Order.amount_fen > Order.paid_fen, Order.review.is_(None),
                or_(Order.status == "arrears", and_(Order.status == "unpaid", Order.due_at < now)))


def arrears_of(db: Session, plate: str, now: datetime) -> PlateArrears:
    number = normalize_plate(plate)
    rows = db.scalars(select(Order).where(Order.plate == number, owed_now(now)).order_by(Order.exited_at))
    return PlateArrears(number, list(rows))


def sweep_overdue(uow: UnitOfWork, now: datetime, *, limit: int = 500) -> int:
    """Unpaid orders past due become arrears (with an audit line, and OrderFellIntoArrears); how many did."""
    db = uow.session
    write_lock(db)
    rows = db.scalars(select(Order).where(Order.status == "unpaid", Order.due_at < now, Order.amount_fen > Order.paid_fen,
                                          Order.review.is_(None))
                      .order_by(Order.due_at).limit(limit).with_for_update(skip_locked=True))
    n = 0
    for order in rows:
        move(db, order, "arrears", actor="system", reason=f"unpaid past its due date {order.due_at.isoformat()}", at=now)
        order.next_charge_at = None
        n += 1
        uow.record(OrderFellIntoArrears(order.id, order.account_id, order.lot_id, order.amount_fen - order.paid_fen))
    return n


@dataclass
class ArrearsAtEntry:
    """In-transaction handler of VehicleEntered: what the entering plate owes, recorded as ArrearsFoundAtEntry."""

    clock: Callable[[], datetime]

    def __call__(self, uow: UnitOfWork, event: VehicleEntered) -> None:
        db = uow.session
        owed = arrears_of(db, event.plate, self.clock())
        if not owed.count:
            return
        holder = owner_of(db, owed.plate)
        account_ids = {o.account_id for o in owed.orders if o.account_id} | ({holder.id} if holder else set())
        uow.record(ArrearsFoundAtEntry(event.stay_id, event.lot_id, owed.plate, owed.count, owed.total_fen,
                                       tuple(o.id for o in owed.orders), tuple(sorted(account_ids)), self.clock()))
