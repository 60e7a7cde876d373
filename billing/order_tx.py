"""What every part of billing does to an order inside a transaction: lock it, move it, audit it.

Every move is a line of the order's own trail (`order_audit`); a move only a person decides (order_states.BY_PEOPLE,
e.g. a void) is also a row of the audit log, written here in the same transaction, so it cannot be made without it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from billing.models import Order, OrderAudit, PaymentAttempt
from billing.order_states import BY_PEOPLE, check_transition
from parking_core.audit import Actor, actor_of, name_of, record_audit
from parking_core.errors import NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"


def write_lock(db: Session) -> None:
    """On SQLite, which has no row locks and whose driver opens a transaction only at the first write, take the
    database's write lock now: every read that follows sees the latest commit and no writer slips in between."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("UPDATE orders SET id = id WHERE 0"))


def lock_order(db: Session, order_id: str) -> Order:
    """The order, locked until the transaction ends (SELECT ... FOR UPDATE; the write lock on SQLite)."""
    write_lock(db)
    order = db.get(Order, order_id, with_for_update=True, populate_existing=True)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id)
    return order


def money(order: Order) -> dict:
    """An order's state and sums, as the audit log's before and after show them."""
    return {"status": order.status, "amount_fen": order.amount_fen, "paid_fen": order.paid_fen, "refunded_fen": order.refunded_fen}


def move(db: Session, order: Order, new: str, *, actor: str | Actor, reason: str, at: datetime) -> None:
    """Change an order's state after checking the transition, with a trail line; a move to a state only people
    decide (BY_PEOPLE) also writes the audit-log row `order.<state>` naming `actor` (a bare name: `Named`)."""
    check_transition(order.status, new)
    audit(db, order, actor, "status", reason, at, to_status=new)
    before = money(order)
    order.status, order.updated_at = new, at
    if new == "paid":
        order.paid_at = order.paid_at or at
        order.failure_reason = None
    if new in BY_PEOPLE:
        record_audit(db, actor=actor_of(actor), action=f"order.{new}", subject=f"order:{order.id}", operator_id=order.operator_id,
                     before=before, after={**money(order), "reason": reason}, at=at)


def audit(db: Session, order: Order, actor: str | Actor, action: str, reason: str, at: datetime, *, to_status: str | None = None,
          new_amount_fen: int | None = None) -> None:
    """A line of the order's own trail (who by name, what, the status and amount before and after)."""
    db.add(OrderAudit(order_id=order.id, actor=name_of(actor)[:64], action=action, from_status=order.status,
                      to_status=to_status or order.status, old_amount_fen=order.amount_fen,
                      new_amount_fen=order.amount_fen if new_amount_fen is None else new_amount_fen, reason=reason, at=at))


def charging(db: Session, order: Order) -> bool:
    """A withholding charge of this order is with Alipay: the order's `paying` is the worker's, not a QR code's."""
    return db.scalar(select(PaymentAttempt.id).where(PaymentAttempt.order_id == order.id, PaymentAttempt.kind == "withholding",
                                                     PaymentAttempt.status == "pending").limit(1)) is not None
