"""Debts follow the plate's verified owner: when a dispute moves a plate, or evidence makes an account its verified
owner (`PlateOwnerChanged`, recorded by accounts), the plate's open orders move to that owner in the same
transaction, each with an audit line; the owner is told once it committed (`PlateDebtsMoved`).

What moves: unpaid and arrears orders of the plate, billed to nobody, to the account that lost the plate, or to an
account that never proved it owns the plate. Debts run up while another account was the plate's verified owner stay
with that owner. Orders being charged (`paying`) are left to settle."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from billing.models import Order
from billing.order_states import OPEN
from billing.order_tx import audit
from parking_core.account_models import PlateBinding
from parking_core.clock import local
from parking_core.db import UnitOfWork
from parking_core.domain_events import Event
from parking_core.notify import Notifier
from parking_core.plate_verification_events import PlateOwnerChanged


@dataclass(frozen=True, slots=True)
class PlateDebtsMoved(Event):
    """A plate's open orders were re-billed to its verified owner."""

    plate: str
    account_id: str
    order_ids: tuple[str, ...]
    total_fen: int
    days: tuple[str, ...]


def move_debts(uow: UnitOfWork, e: PlateOwnerChanged) -> None:
    """In-transaction handler: re-bill the plate's open debts to its verified owner."""
    db = uow.session
    other_owners = set(db.scalars(select(PlateBinding.account_id).where(
        PlateBinding.plate == e.plate, PlateBinding.status == "verified", PlateBinding.account_id != e.account_id)))
    other_owners.discard(e.previous_account_id)
    q = select(Order).where(Order.plate == e.plate, Order.status.in_(OPEN), Order.amount_fen > Order.paid_fen,
                            or_(Order.account_id.is_(None), Order.account_id != e.account_id))
    if other_owners:
        q = q.where(or_(Order.account_id.is_(None), Order.account_id.not_in(sorted(other_owners))))
    moved = list(db.scalars(q.order_by(Order.exited_at, Order.id).with_for_update()))
    for order in moved:
        audit(db, order, e.actor[:64], "owner_moved", f"{e.reason}: billed to {e.account_id} (was {order.account_id or 'nobody'})", e.at)
        order.account_id, order.next_charge_at, order.updated_at = e.account_id, None, e.at
    if moved:
        uow.record(PlateDebtsMoved(e.plate, e.account_id, tuple(o.id for o in moved),
                                   sum(o.amount_fen - o.paid_fen for o in moved),
                                   tuple(sorted({f"{local(o.exited_at):%Y-%m-%d}" for o in moved}))))


@dataclass(frozen=True)
class DebtNotices:
    """After commit: the new owner hears what the plate owes now (amount and days; the orders are in the app)."""

    notifier: Notifier

    def debts_moved(self, e: PlateDebtsMoved) -> None:
        self.notifier.notify(e.account_id, "plate_debts_moved",
                             f"plate {e.plate} owes {e.total_fen} fen on {len(e.order_ids)} order(s), now on your account",
                             {"plate": e.plate, "order_ids": list(e.order_ids), "total_fen": e.total_fen, "days": list(e.days)})


__all__ = ["DebtNotices", "PlateDebtsMoved", "move_debts"]
