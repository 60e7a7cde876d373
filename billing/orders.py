"""Orders: one per closed stay, priced by the lot's tariff inside the transaction that closes the stay, so an
exit and its order exist together or not at all. The state machine lives here, in one function.

Nothing here talks to Alipay; charging is the payment worker's job, after the exit has committed.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from billing.models import MonthlyPass, Order, OrderAudit
from billing.tariffs import CompiledTariff, compute_fee
from billing.tariffs.versions import tariff_in_force
from parking_core.accounts import owner_of, plates_of
from parking_core.clock import local
from parking_core.db import UnitOfWork
from parking_core.directory import Directory
from parking_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from parking_core.plates import normalize_plate
from parking_core.session_models import ParkingSession

AFTER_COMMIT = "billing.after_commit"
T = TypeVar("T")
OPEN = ("unpaid", "arrears")  # owed and not being charged
SETTLED = ("paid", "partially_refunded", "refunded")
TRANSITIONS: dict[str, frozenset[str]] = {
    "unpaid": frozenset({"paying", "paid", "arrears", "void"}),
    "paying": frozenset({"paid", "unpaid"}),
    "arrears": frozenset({"paying", "paid", "void"}),
    "paid": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"refunded"}),
    "refunded": frozenset(),
    "void": frozenset(),
}


class OrderNotFound(NotFound):
    code = "order_not_found"


class InvalidTransition(Conflict):
    code = "invalid_order_transition"


def after_commit(db: Session, action: Callable[[], None]) -> None:
    """Run `action` once this transaction commits (notices, MQTT); a rollback drops it."""
    db.info.setdefault(AFTER_COMMIT, []).append(action)


def check_transition(old: str, new: str) -> None:
    """The one rule of which order states may follow which; raises naming both."""
    if new not in TRANSITIONS.get(old, ()):
        allowed = ", ".join(sorted(TRANSITIONS.get(old, ()))) or "nothing"
        raise InvalidTransition(f"order status {old!r} cannot become {new!r} (allowed: {allowed})", field="status", value=new)


def _qr_only(db: Session, order: Order) -> bool:
    """The order is `paying` because of a QR code, not a withholding charge Alipay may still complete."""
    from billing.models import PaymentAttempt

    return db.scalar(select(PaymentAttempt.id).where(PaymentAttempt.order_id == order.id, PaymentAttempt.kind == "withholding",
                                                     PaymentAttempt.status == "pending").limit(1)) is None


def move(db: Session, order: Order, new: str, *, actor: str, reason: str, at: datetime) -> None:
    """Change an order's state after checking the transition, with an audit line."""
    check_transition(order.status, new)
    audit(db, order, actor, "status", reason, at, to_status=new)
    order.status, order.updated_at = new, at
    if new == "paid":
        order.paid_at = order.paid_at or at
        order.failure_reason = None


def audit(db: Session, order: Order, actor: str, action: str, reason: str, at: datetime, *, to_status: str | None = None,
          new_amount_fen: int | None = None) -> None:
    db.add(OrderAudit(order_id=order.id, actor=actor, action=action, from_status=order.status,
                      to_status=to_status or order.status, old_amount_fen=order.amount_fen,
                      new_amount_fen=order.amount_fen if new_amount_fen is None else new_amount_fen, reason=reason, at=at))


def kept(db: Session, value: T) -> T:
    """Detach what was read, so the unit of work's closing rollback does not expire it."""
    db.expunge_all()
    return value


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


def subject_of(order: Order) -> str:
    """What the driver sees in Alipay for this order."""
    return f"停车费 {order.lot_id} {order.plate}"


@dataclass(frozen=True)
class Priced:
    amount_fen: int
    tariff_id: str | None
    tariff_version: int | None
    pass_covered: bool
    breakdown: list[dict]
    problem: str | None = None  # why this stay could not be priced; a person prices it


@dataclass
class OrderBook:
    """Creates and re-prices orders from the session hooks, and answers who owes what."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    directory: Directory
    tariffs: dict[str, CompiledTariff]
    due: timedelta = timedelta(days=30)
    charge_due: Callable[[], None] = lambda: None  # told (after commit) when an order is ready to charge: wakes the payment worker

    # -- hooks (inside the session's transaction) -----------------------------------------------
    def create_for(self, db: Session, stay: ParkingSession) -> None:
        """on_closed: the stay's one order; a free stay (0 fen) is paid at once."""
        if db.scalar(select(Order.id).where(Order.session_id == stay.id)) is not None:
            return
        now = self.clock()
        owner = owner_of(db, stay.plate)
        lot = self.directory.get(stay.lot_id)
        order = Order(id=uuid.uuid4().hex, session_id=stay.id, lot_id=stay.lot_id, operator_id=lot.operator if lot else "",
                      plate=stay.plate, account_id=owner.id if owner else None, status="unpaid", amount_fen=0, paid_fen=0,
                      refunded_fen=0, vehicle=stay.vehicle, new_energy=stay.new_energy, entered_at=stay.entered_at,
                      exited_at=stay.exited_at, due_at=now + self.due, created_at=now, updated_at=now)
        self._set_price(order, self.price(db, stay))
        if order.review is None and stay.review is not None:  # e.g. an exit read one character off: a person confirms first
            order.review = f"not charged until the stay is confirmed: {stay.review}"[:500]
        if order.amount_fen == 0 and order.review is None:
            order.status, order.paid_at = "paid", now
        elif order.review is None and owner is not None:
            order.next_charge_at = now
            after_commit(db, self.charge_due)
        elif owner is None:
            order.failure_reason = "no account holds this plate: pay by plate at the next entry or in the app"
        db.add(order)

    def recompute_for(self, db: Session, stay: ParkingSession) -> None:
        """on_corrected: an order not yet paid is re-priced (audited); a paid one is kept and flagged for a refund decision."""
        order = db.scalars(select(Order).where(Order.session_id == stay.id).with_for_update()).first()
        if order is None:
            self.create_for(db, stay)
            return
        if order.status == "void":
            return
        now = self.clock()
        priced = self.price(db, stay)
        if order.status in OPEN:
            audit(db, order, "system", "recompute", f"stay corrected: {order.amount_fen} -> {priced.amount_fen} fen",
                  now, new_amount_fen=priced.amount_fen)
            order.plate, order.entered_at, order.exited_at = stay.plate, stay.entered_at, stay.exited_at
            owner = owner_of(db, stay.plate)
            order.account_id = owner.id if owner else order.account_id
            self._set_price(order, priced)
            order.review, order.review_amount_fen, order.updated_at = priced.problem, None, now
            if order.amount_fen <= order.paid_fen and priced.problem is None:
                move(db, order, "paid", actor="system", reason="corrected stay costs nothing more", at=now)
            elif order.status == "unpaid" and priced.problem is None and order.account_id is not None:
                order.next_charge_at = now
                after_commit(db, self.charge_due)
            return
        if priced.amount_fen == order.amount_fen and priced.problem is None:
            audit(db, order, "system", "recompute", "stay corrected: amount unchanged", now)
            return
        order.review = (f"stay corrected while {order.status}: it now costs {priced.amount_fen} fen, the order is for "
                        f"{order.amount_fen} fen; decide a refund" + (f" ({priced.problem})" if priced.problem else ""))
        order.review_amount_fen, order.updated_at = priced.amount_fen, now
        audit(db, order, "system", "flag_refund", order.review, now)

    # -- pricing ----------------------------------------------------------------------------------
    def price(self, db: Session, stay: ParkingSession) -> Priced:
        """The stay under its lot's tariff; a problem (unknown tariff, bad times) is returned, never raised,
        so a billing problem can never undo the exit it belongs to."""
        lot = self.directory.get(stay.lot_id)
        if lot is None or lot.tariff is None:
            return Priced(0, None, None, False, [])
        # the version in force when the stay began, so a later price change never reaches it
        tariff = (tariff_in_force(self.tariffs, lot.tariff, stay.entered_at, db) if stay.entered_at is not None
                  else self.tariffs.get(lot.tariff))
        if tariff is None:
            return Priced(0, lot.tariff, None, False, [], f"lot {stay.lot_id} names tariff {lot.tariff!r}, which is not loaded")
        if stay.entered_at is None or stay.exited_at is None:
            return Priced(0, tariff.id, tariff.version, False, [], "the stay has no entry or exit time")
        covered = pass_covers(db, stay.plate, stay.lot_id, stay.entered_at, stay.exited_at)
        try:
            fee = compute_fee(tariff, entered_at=stay.entered_at, exited_at=stay.exited_at, vehicle=stay.vehicle,
                              new_energy=stay.new_energy, pass_covered=covered)
        except InvalidInput as exc:
            return Priced(0, tariff.id, tariff.version, covered, [], f"cannot price this stay: {exc.message}")
        lines = [{"label": b.label, "start": b.start.isoformat(), "end": b.end.isoformat(), "units": b.units, "fen": b.fen}
                 for b in fee.breakdown]
        return Priced(fee.amount_fen, fee.tariff_id, fee.tariff_version, covered, lines)

    @staticmethod
    def _set_price(order: Order, priced: Priced) -> None:
        order.amount_fen, order.tariff_id, order.tariff_version = priced.amount_fen, priced.tariff_id, priced.tariff_version
        order.pass_covered, order.breakdown, order.review = priced.pass_covered, priced.breakdown, priced.problem

    # -- people -----------------------------------------------------------------------------------
    def void(self, order_id: str, *, actor: str, reason: str) -> Order:
        """An operator cancels an order nobody should pay (e.g. a misread plate); only while nothing was paid."""
        if not reason.strip():
            raise InvalidInput("voiding an order needs a reason", field="reason", value=reason)
        with self.uow() as uow:
            order = lock_order(uow.session, order_id)
            if order.paid_fen:
                raise Conflict(f"order {order_id} has {order.paid_fen} fen paid: refund it instead", field="status", value=order.status)
            if order.status == "paying" and _qr_only(uow.session, order):  # a QR code awaits the scan: withdraw it first
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

    def of_account(self, account_id: str, *, status: str | tuple[str, ...] | None = None, limit: int = 100) -> list[Order]:
        """The caller's orders, newest first, with unpaid ones of nobody's for plates the caller holds."""
        with self.uow() as uow:
            db = uow.session
            plates = [b.plate for b in plates_of(db, account_id)]
            orphans = and_(Order.account_id.is_(None), Order.plate.in_(plates), Order.status.in_(OPEN))
            q = select(Order).where(or_(Order.account_id == account_id, orphans) if plates else Order.account_id == account_id)
            if status:
                q = q.where(Order.status.in_((status,) if isinstance(status, str) else status))
            return kept(db, list(db.scalars(q.order_by(Order.exited_at.desc(), Order.id).limit(limit))))

    def sessions_of(self, account_id: str, *, limit: int = 50) -> list[tuple[ParkingSession, Order | None]]:
        """The caller's stays: those of plates they hold since they bound them, and those they were billed for."""
        with self.uow() as uow:
            db = uow.session
            started = func.coalesce(ParkingSession.entered_at, ParkingSession.exited_at)
            since_bound = [and_(ParkingSession.plate == b.plate, started >= b.bound_at) for b in plates_of(db, account_id)]
            billed = select(Order.session_id).where(Order.account_id == account_id)
            rows = db.execute(
                select(ParkingSession, Order).outerjoin(Order, Order.session_id == ParkingSession.id)
                .where(or_(ParkingSession.id.in_(billed), *since_bound), ParkingSession.status != "void")
                .order_by(started.desc(), ParkingSession.id).limit(limit))
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


# -- monthly passes ----------------------------------------------------------------------------------
def pass_covers(db: Session, plate: str, lot_id: str, entered_at: datetime, exited_at: datetime) -> bool:
    """A pass of this plate for this lot valid on every Shanghai day of the stay."""
    return db.scalar(select(MonthlyPass.id).where(
        MonthlyPass.plate == plate, MonthlyPass.lot_id == lot_id,
        MonthlyPass.valid_from <= local(entered_at).date(), MonthlyPass.valid_to >= local(exited_at).date()).limit(1)) is not None


def add_pass(db: Session, *, plate: str, lot_id: str, valid_from: date, valid_to: date, actor: str, note: str,
             at: datetime, directory: Directory) -> MonthlyPass:
    """Record a monthly pass; the lot must exist and the days run forwards."""
    number = normalize_plate(plate)
    if not number:
        raise InvalidInput(f"plate {plate!r} has no letters or digits", field="plate", value=plate)
    if directory.get(lot_id) is None:
        raise NotFound(f"no car park {lot_id!r}", field="lot_id", value=lot_id)
    if valid_to < valid_from:
        raise InvalidInput(f"valid_to {valid_to} is before valid_from {valid_from}", field="valid_to", value=valid_to.isoformat())
    row = MonthlyPass(plate=number, lot_id=lot_id, valid_from=valid_from, valid_to=valid_to, note=note, created_by=actor, created_at=at)
    db.add(row)
    db.flush()
    return row


def passes(db: Session, *, plate: str | None = None, lot_id: str | None = None) -> list[MonthlyPass]:
    q = select(MonthlyPass)
    if plate:
        q = q.where(MonthlyPass.plate == normalize_plate(plate))
    if lot_id:
        q = q.where(MonthlyPass.lot_id == lot_id)
    return list(db.scalars(q.order_by(MonthlyPass.valid_from.desc(), MonthlyPass.id)))
