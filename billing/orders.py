"""Orders: one per closed stay, priced inside the transaction that closes the stay, so an exit and its
order exist together or not at all (`create_for` and `recompute_for` are in-transaction handlers of
the stay book's events, declared in billing/handlers.py). Reads for drivers and operators.

Nothing here talks to Alipay; charging is the payment worker's job, after the exit has committed.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from billing.events import OrderCreated, OrderRepriced
from billing.models import Order, OrderAudit
from billing.order_states import (
    OPEN,
    SETTLED,
    TRANSITIONS,
    InvalidTransition,
    check_transition,
)
from billing.order_tx import OrderNotFound, audit, charging, lock_order, move
from billing.pricing import Priced, price_stay, set_price
from billing.tariffs import CompiledTariff
from parking_core.accounts import owner_of, plates_of
from parking_core.audit import Actor
from parking_core.db import UnitOfWork, kept
from parking_core.directory import Directory
from parking_core.domain_events import StayCorrected, VehicleExited
from parking_core.errors import Conflict, Forbidden, InvalidInput
from parking_core.models import UTCDateTime
from parking_core.plates import normalize_plate
from parking_core.session_models import ParkingSession

__all__ = ["OPEN", "SETTLED", "TRANSITIONS", "InvalidTransition", "OrderBook", "OrderNotFound", "check_transition", "kept"]


@dataclass
class OrderBook:
    """Creates and re-prices orders as stays close and are corrected, and answers who owes what."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    directory: Directory
    tariffs: Mapping[str, CompiledTariff]
    due: timedelta = timedelta(days=30)

    # -- in-transaction handlers ------------------------------------------------------------------
    def create_for(self, uow: UnitOfWork, event: VehicleExited) -> None:
        """The stay's one order; a free stay (0 fen) is paid at once. Records OrderCreated."""
        db = uow.session
        if db.scalar(select(Order.id).where(Order.session_id == event.stay_id)) is not None:
            return
        stay = db.get(ParkingSession, event.stay_id)
        now = self.clock()
        owner = owner_of(db, stay.plate)
        lot = self.directory.get(stay.lot_id)
        order = Order(id=uuid.uuid4().hex, session_id=stay.id, lot_id=stay.lot_id, operator_id=lot.operator if lot else "",
                      plate=stay.plate, account_id=owner.id if owner else None, status="unpaid", amount_fen=0, paid_fen=0,
                      refunded_fen=0, vehicle=stay.vehicle, new_energy=stay.new_energy, entered_at=stay.entered_at,
                      exited_at=stay.exited_at, due_at=now + self.due, created_at=now, updated_at=now)
        set_price(order, self.price(db, stay))
        if order.review is None and stay.review is not None:  # e.g. an exit read one character off: a person confirms first
            order.review = f"not charged until the stay is confirmed: {stay.review}"[:500]
        if order.amount_fen == 0 and order.review is None:
            order.status, order.paid_at = "paid", now
        elif order.review is None and owner is not None:
            order.next_charge_at = now
        elif owner is None:
            order.failure_reason = "no account holds this plate: pay by plate at the next entry or in the app"
        db.add(order)
        uow.record(OrderCreated(order.id, stay.id, order.lot_id, order.plate, order.amount_fen,
                                charge_due=order.next_charge_at is not None))

    def recompute_for(self, uow: UnitOfWork, event: StayCorrected) -> None:
        """An order not yet paid is re-priced (audited); a paid one is kept and flagged for a refund decision."""
        db = uow.session
        order = db.scalars(select(Order).where(Order.session_id == event.stay_id).with_for_update()).first()
        if order is None:
            stay = db.get(ParkingSession, event.stay_id)
            self.create_for(uow, VehicleExited(stay.id, stay.lot_id, stay.plate, stay.exited_at))
            return
        if order.status == "void":
            return
        stay = db.get(ParkingSession, event.stay_id)
        now = self.clock()
        priced = self.price(db, stay)
        if order.status in OPEN:
            audit(db, order, "system", "recompute", f"stay corrected: {order.amount_fen} -> {priced.amount_fen} fen",
                  now, new_amount_fen=priced.amount_fen)
            order.plate, order.entered_at, order.exited_at = stay.plate, stay.entered_at, stay.exited_at
            owner = owner_of(db, stay.plate)
            order.account_id = owner.id if owner else order.account_id
            set_price(order, priced)
            order.review, order.review_amount_fen, order.updated_at = priced.problem, None, now
            charge_due = False
            if order.amount_fen <= order.paid_fen and priced.problem is None:
                move(db, order, "paid", actor="system", reason="corrected stay costs nothing more", at=now)
            elif order.status == "unpaid" and priced.problem is None and order.account_id is not None:
                order.next_charge_at, charge_due = now, True
            uow.record(OrderRepriced(order.id, order.amount_fen, charge_due=charge_due))
            return
        if priced.amount_fen == order.amount_fen and priced.problem is None:
            audit(db, order, "system", "recompute", "stay corrected: amount unchanged", now)
            return
        order.review = (f"stay corrected while {order.status}: it now costs {priced.amount_fen} fen, the order is for "
                        f"{order.amount_fen} fen; decide a refund" + (f" ({priced.problem})" if priced.problem else ""))
        order.review_amount_fen, order.updated_at = priced.amount_fen, now
        audit(db, order, "system", "flag_refund", order.review, now)

    def price(self, db: Session, stay: ParkingSession) -> Priced:
        """The stay under its lot's tariff (billing/pricing.py)."""
        return price_stay(db, stay, directory=self.directory, tariffs=self.tariffs)

    # -- people -----------------------------------------------------------------------------------
    def void(self, order_id: str, *, actor: str | Actor, reason: str) -> Order:
        """An operator cancels an order nobody should pay (e.g. a misread plate); only while nothing was paid."""
        if not reason.strip():
            raise InvalidInput("voiding an order needs a reason", field="reason", value=reason)
        with self.uow() as uow:
            order = lock_order(uow.session, order_id)
            if order.paid_fen:
                raise Conflict(f"order {order_id} has {order.paid_fen} fen paid: refund it instead", field="status", value=order.status)
            if order.status == "paying" and not charging(uow.session, order):  # a QR code awaits the scan: withdraw it first
                move(uow.session, order, "unpaid", actor=actor, reason=f"QR code withdrawn: {reason}", at=self.clock())
            move(uow.session, order, "void", actor=actor, reason=reason, at=self.clock())
            order.next_charge_at = None
            uow.commit()
        return order

    # -- reads --------------------------------------------------------------------------------------
    def get(self, order_id: str) -> Order:
        with self.uow() as uow:
            order = kept(uow.session, uow.session.get(Order, order_id))
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id)
        return order

    def owned(self, db: Session, order_id: str, account_id: str, *, lock: bool = False) -> Order:
        """The caller's order: 404 when there is none, 403 when it is someone else's. An unpaid order of nobody's
        for a plate the caller holds now is theirs to pay (debts follow the plate)."""
        order = lock_order(db, order_id) if lock else db.get(Order, order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id)
        if order.account_id == account_id:
            return order
        if order.account_id is None and order.status in OPEN:
            holder = owner_of(db, order.plate)
            if holder is not None and holder.id == account_id:
                return order
        raise Forbidden(f"order {order_id} is not yours", field="order_id", value=order_id)

    def of_account(self, account_id: str, *, status: str | tuple[str, ...] | None = None, limit: int = 100,
                   after: tuple[datetime, str] | None = None) -> list[Order]:
        """The caller's orders, newest first (ties by id), with unpaid ones of nobody's for plates the caller holds;
        `after` (an order's exit time and id) starts below that order, so pages neither repeat nor skip one."""
        with self.uow() as uow:
            db = uow.session
            plates = [b.plate for b in plates_of(db, account_id)]
            orphans = and_(Order.account_id.is_(None), Order.plate.in_(plates), Order.status.in_(OPEN))
            q = select(Order).where(or_(Order.account_id == account_id, orphans) if plates else Order.account_id == account_id)
            if status:
                q = q.where(Order.status.in_((status,) if isinstance(status, str) else status))
            if after is not None:
                q = q.where(_below(Order.exited_at, Order.id, after))
            return kept(db, list(db.scalars(q.order_by(Order.exited_at.desc(), Order.id).limit(limit))))

    def sessions_of(self, account_id: str, *, limit: int = 50, after: tuple[datetime, str] | None = None,
                    plates: Collection[str] | None = None) -> list[tuple[ParkingSession, Order | None]]:
        """The caller's stays: those of plates they hold since they bound them, and those they were billed for; newest
        first (by entry, else exit; ties by id), below `after` (a stay's time and id); only of `plates` when given."""
        if plates is not None and not plates:
            return []
        with self.uow() as uow:
            db = uow.session
            started = func.coalesce(ParkingSession.entered_at, ParkingSession.exited_at)
            since_bound = [and_(ParkingSession.plate == b.plate, started >= b.bound_at) for b in plates_of(db, account_id)]
            billed = select(Order.session_id).where(Order.account_id == account_id)
            q = (select(ParkingSession, Order).outerjoin(Order, Order.session_id == ParkingSession.id)
                 .where(or_(ParkingSession.id.in_(billed), *since_bound), ParkingSession.status != "void"))
            if plates is not None:
                q = q.where(ParkingSession.plate.in_(list(plates)))
            if after is not None:
                q = q.where(_below(started, ParkingSession.id, after))
            rows = db.execute(q.order_by(started.desc(), ParkingSession.id).limit(limit))
            return kept(db, [(s, o) for s, o in rows])

    def listed(self, *, status: str | None = None, lot_id: str | None = None, plate: str | None = None,
               review: bool | None = None, limit: int = 100) -> list[Order]:
        """Orders for operators, newest first."""
        q = select(Order)
        if status:
            q = q.where(Order.status == status)
        if lot_id:
            q = q.where(Order.lot_id == lot_id)
        if plate:
            q = q.where(Order.plate == normalize_plate(plate))
        if review is not None:
            q = q.where(Order.review.is_not(None) if review else Order.review.is_(None))
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(q.order_by(Order.created_at.desc(), Order.id).limit(limit))))

    def audit_of(self, order_id: str) -> list[OrderAudit]:
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(select(OrderAudit).where(OrderAudit.order_id == order_id)
                                                              .order_by(OrderAudit.id))))


def _below(at: Any, row_id: Any, after: tuple[datetime, str]) -> Any:
    """Rows after (at, id) in the order `at` newest first, then id: older, or as old with a greater id."""
    when = literal(after[0], UTCDateTime())
    return or_(at < when, and_(at == when, row_id > after[1]))
