"""Arrears (欠费): unpaid orders past their due date become arrears, and a plate that owes anything is
announced when it next enters any car park, to the car park (MQTT) and to its driver (a notice)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing.models import Order
from billing.orders import after_commit, move, write_lock
from parking_core.accounts import owner_of
from parking_core.notify import Notifier
from parking_core.plates import normalize_plate
from parking_core.session_models import ParkingSession

Publish = Callable[[str, bytes, bool], None]


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


def sweep_overdue(db: Session, now: datetime, notifier: Notifier | None, *, limit: int = 500) -> int:
    """Unpaid orders past due become arrears (with an audit line and a notice); how many did."""
    write_lock(db)
    rows = db.scalars(select(Order).where(Order.status == "unpaid", Order.due_at < now, Order.amount_fen > Order.paid_fen,
                                          Order.review.is_(None))
                      .order_by(Order.due_at).limit(limit).with_for_update(skip_locked=True))
    n = 0
    for order in rows:
        move(db, order, "arrears", actor="system", reason=f"unpaid past its due date {order.due_at.isoformat()}", at=now)
        order.next_charge_at = None
        n += 1
        if notifier is not None and order.account_id is not None:
            after_commit(db, _notice(notifier, order.account_id, "arrears",
                                     f"parking order {order.id} ({order.amount_fen - order.paid_fen} fen, {order.lot_id}) "
                                     "is overdue and now in arrears",
                                     {"order_id": order.id, "amount_fen": order.amount_fen - order.paid_fen, "lot_id": order.lot_id}))
    return n


@dataclass
class ArrearsAtEntry:
    """on_opened: a plate that owes is announced to the car park it entered and to its driver, after the entry commits."""

    clock: Callable[[], datetime]
    publish: Publish
    topic_prefix: str
    notifier: Notifier | None = None

    def __call__(self, db: Session, stay: ParkingSession) -> None:
        owed = arrears_of(db, stay.plate, self.clock())
        if not owed.count:
            return
        holder = owner_of(db, owed.plate)
        account_ids = {o.account_id for o in owed.orders if o.account_id} | ({holder.id} if holder else set())
        payload = orjson.dumps({"plate": owed.plate, "count": owed.count, "total_fen": owed.total_fen,
                                "orders": [o.id for o in owed.orders], "session_id": stay.id,
                                "ts": self.clock().isoformat()})
        topic = f"{self.topic_prefix}/lots/{stay.lot_id}/arrears"
        after_commit(db, lambda: self.publish(topic, payload, False))
        if self.notifier is not None:
            for account_id in sorted(account_ids):
                after_commit(db, _notice(self.notifier, account_id, "arrears_at_entry",
                                         f"plate {owed.plate} entered {stay.lot_id} owing {owed.total_fen} fen on {owed.count} order(s)",
                                         {"plate": owed.plate, "lot_id": stay.lot_id, "count": owed.count, "total_fen": owed.total_fen}))


def _notice(notifier: Notifier, account_id: str, kind: str, message: str, data: dict) -> Callable[[], None]:
    return lambda: notifier.notify(account_id, kind, message, data)
