"""Money in. Each request for money is an attempt under its own out_trade_no; a payment is recorded in one
place, whichever of Alipay's answer, its notification or a query tells us first, and never twice for one trade.

Locks are always taken order first, then attempt, so the worker, notifications and drivers never deadlock.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.alipay.client import AlipayClient, AlipayRefused, trade_precreate
from billing.alipay.notify import NotificationRejected, verify_notification
from billing.events import OrderLeftUnpaid, PaymentRecorded
from billing.models import AlipayNotificationRecord, Order, Payment, PaymentAttempt
from billing.order_states import OPEN
from billing.order_tx import audit, charging, lock_order, move
from billing.orders import OrderBook
from billing.refunds import confirm_refund
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, DependencyUnavailable

log = logging.getLogger("parking.billing")
PAID_STATUSES = ("TRADE_SUCCESS", "TRADE_FINISHED")
QR_VALID = timedelta(hours=2)  # Alipay's default qr_code_timeout_express; an unscanned QR trade does not exist for trade.query


def new_attempt(db: Session, order: Order, *, kind: str, amount_fen: int, now: datetime, query_at: datetime | None,
                agreement_no: str | None = None) -> PaymentAttempt:
    """A fresh out_trade_no for this order (`{order id}-{n}`), pending until Alipay says otherwise."""
    n = db.scalar(select(func.count()).select_from(PaymentAttempt).where(PaymentAttempt.order_id == order.id)) + 1
    attempt = PaymentAttempt(order_id=order.id, out_trade_no=f"{order.id}-{n}", kind=kind, amount_fen=amount_fen,
                             status="pending", agreement_no=agreement_no, queries=0, next_query_at=query_at,
                             created_at=now, updated_at=now)
    db.add(attempt)
    db.flush()
    return attempt


def lock_attempt(db: Session, out_trade_no: str) -> tuple[Order, PaymentAttempt] | None:
    """The attempt and its order, both locked (order first), or None when the number is not ours."""
    order_id = db.scalar(select(PaymentAttempt.order_id).where(PaymentAttempt.out_trade_no == out_trade_no))
    if order_id is None:
        return None
    order = lock_order(db, order_id)
    attempt = db.scalars(select(PaymentAttempt).where(PaymentAttempt.out_trade_no == out_trade_no).with_for_update()).one()
    return order, attempt


def subject_of(order: Order) -> str:
    """What the driver sees in Alipay for this order."""
    return f"停车费 {order.lot_id} {order.plate}"


def record_payment(uow: UnitOfWork, order: Order, attempt: PaymentAttempt, *, trade_no: str, amount_fen: int,
                   paid_at: datetime, buyer_id: str | None, source: str, now: datetime) -> Payment | None:
    """The payment of this attempt, once; None when it was already recorded. Money that arrives for an order
    no longer owing (paid twice, voided) is still recorded, and the order flagged for a refund."""
    db = uow.session
    if db.scalar(select(Payment.id).where(Payment.attempt_id == attempt.id)) is not None:
        return None
    payment = Payment(order_id=order.id, attempt_id=attempt.id, out_trade_no=attempt.out_trade_no, trade_no=trade_no,
                      amount_fen=amount_fen, paid_at=paid_at, recorded_at=now, source=source, buyer_id=buyer_id)
    db.add(payment)
    attempt.status, attempt.trade_no, attempt.next_query_at, attempt.updated_at = "paid", trade_no, None, now
    order.paid_fen += amount_fen
    order.updated_at = now
    what = f"{amount_fen} fen paid by {attempt.kind} {attempt.out_trade_no} (told by {source})"
    if order.status in ("unpaid", "paying", "arrears"):
        if order.paid_fen >= order.amount_fen:
            move(db, order, "paid", actor="alipay", reason=what, at=now)
            order.paid_at, order.next_charge_at = paid_at, None
            if order.paid_fen > order.amount_fen:
                order.review = f"paid {order.paid_fen} fen for an order of {order.amount_fen} fen: refund the difference"
        else:
            if order.status == "paying":
                move(db, order, "unpaid", actor="alipay", reason=what, at=now)
            audit(db, order, "alipay", "partial_payment", what, now)
            order.failure_reason = f"{order.paid_fen} of {order.amount_fen} fen paid; {order.amount_fen - order.paid_fen} fen still owed"
    else:
        order.review = f"{what} arrived while the order was {order.status}: refund it"
        audit(db, order, "alipay", "flag_refund", order.review, now)
    db.flush()
    uow.record(PaymentRecorded(order.id, order.account_id, order.lot_id, amount_fen))
    return payment


def live_qr(db: Session, order: Order, now: datetime, *, amount_fen: int | None = None) -> PaymentAttempt | None:
    """The order's QR trade that a driver may still scan (pending, code issued, younger than QR_VALID)."""
    where = [PaymentAttempt.order_id == order.id, PaymentAttempt.kind == "qr", PaymentAttempt.status == "pending",
             PaymentAttempt.qr_code.is_not(None), PaymentAttempt.created_at > now - QR_VALID]
    if amount_fen is not None:
        where.append(PaymentAttempt.amount_fen == amount_fen)
    return db.scalars(select(PaymentAttempt).where(*where).order_by(PaymentAttempt.id.desc())).first()


def fail_attempt(uow: UnitOfWork, order: Order, attempt: PaymentAttempt, *, reason: str, now: datetime, status: str = "failed",
                 retry_at: datetime | None = None) -> bool:
    """A pending attempt that will not be paid; a withholding charge puts its order back to unpaid (True), and so
    does a QR trade Alipay closed or never saw scanned, unless a newer QR code is still waiting."""
    db = uow.session
    if attempt.status != "pending":
        return False
    attempt.status, attempt.failure_reason, attempt.next_query_at, attempt.updated_at = status, reason, None, now
    if attempt.kind == "qr" and order.status == "paying":
        db.flush()
        if live_qr(db, order, now) is None and not charging(db, order):
            move(db, order, "unpaid", actor="alipay", reason=f"QR code {attempt.out_trade_no} not paid: {reason}", at=now)
            return True
        return False
    if attempt.kind != "withholding" or order.status != "paying":
        return False
    move(db, order, "unpaid", actor="alipay", reason=reason, at=now)
    order.failure_reason, order.next_charge_at = reason, retry_at
    if retry_at is None:
        uow.record(OrderLeftUnpaid(order.id, order.account_id, order.lot_id, order.amount_fen - order.paid_fen, order.due_at,
                                   reason, tried=True))
    return True


def settle(uow: UnitOfWork, order: Order, attempt: PaymentAttempt, *, trade_status: str, trade_no: str, amount_fen: int,
           paid_at: datetime | None, buyer_id: str | None, source: str, now: datetime) -> str:
    """Apply Alipay's word on a trade (paid, closed, waiting); what it did."""
    if trade_status in PAID_STATUSES:
        paid = record_payment(uow, order, attempt, trade_no=trade_no, amount_fen=amount_fen, paid_at=paid_at or now,
                              buyer_id=buyer_id, source=source, now=now)
        return "recorded" if paid is not None else "already_recorded"
    if trade_status == "TRADE_CLOSED":
        fail_attempt(uow, order, attempt, reason="Alipay closed the trade unpaid", now=now, status="closed")
        return "closed"
    if attempt.kind == "qr" and attempt.created_at <= now - QR_VALID:  # its code lapsed unscanned: the order is owed again
        fail_attempt(uow, order, attempt, reason=f"QR code not paid within {QR_VALID}", now=now, status="expired")
        return "expired"
    return "waiting"


@dataclass(frozen=True)
class QrCode:
    order_id: str
    out_trade_no: str
    qr_code: str
    amount_fen: int


@dataclass
class Payments:
    """Notifications from Alipay, and drivers paying an unpaid order by QR code."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    orders: OrderBook
    alipay: AlipayClient | None = None
    query_after: timedelta = timedelta(seconds=60)

    def record_notification(self, form: Mapping[str, str]) -> str:
        """Verify and record one trade notification with its payment, in one transaction. Returns what happened
        (`recorded`, `already_recorded`, `duplicate`, ...); raises NotificationRejected, changing nothing, when
        the signature, app, trade or amount is wrong."""
        client = self._alipay()
        note = verify_notification(form, alipay_public_key_pem=client.settings.alipay_public_key_pem, app_id=client.settings.app_id)
        if note.notify_type != "trade_status_sync" or not note.out_trade_no:
            raise NotificationRejected(f"notify_type {note.notify_type!r} is not a trade notification", kind="bad_field",
                                       field="notify_type", value=note.notify_type)
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            found = lock_attempt(db, note.out_trade_no)
            if found is None:
                raise NotificationRejected(f"out_trade_no {note.out_trade_no!r} is not one of ours", kind="unknown_trade",
                                           field="out_trade_no", value=note.out_trade_no)
            order, attempt = found
            if note.total_amount_fen != attempt.amount_fen:
                raise NotificationRejected(f"total_amount is {note.total_amount_fen} fen, the trade is for {attempt.amount_fen} fen",
                                           kind="wrong_amount", field="total_amount", value=note.total_amount_fen)
            seller = client.settings.seller_id
            if seller and note.seller_id and note.seller_id != seller:
                raise NotificationRejected(f"seller_id {note.seller_id!r} is not this merchant's", kind="wrong_seller",
                                           field="seller_id", value=note.seller_id)
            if attempt.trade_no and note.trade_no and note.trade_no != attempt.trade_no:
                raise NotificationRejected(f"trade_no {note.trade_no!r} is not the trade {attempt.trade_no!r} Alipay gave this order",
                                           kind="wrong_trade", field="trade_no", value=note.trade_no)
            if db.scalar(select(AlipayNotificationRecord.id).where(AlipayNotificationRecord.notify_id == note.notify_id)):
                return "duplicate"
            db.add(AlipayNotificationRecord(
                notify_id=note.notify_id, notify_type=note.notify_type, out_trade_no=note.out_trade_no,
                trade_status=note.trade_status, total_amount_fen=note.total_amount_fen, refund_fee_fen=note.refund_fee_fen,
                out_biz_no=note.out_biz_no, received_at=now, raw=dict(note.raw)))
            if note.is_refund:
                outcome = confirm_refund(uow, order, out_request_no=note.out_biz_no, at=note.gmt_refund or now, now=now,
                                         refunded_total_fen=note.refund_fee_fen)
            else:
                outcome = settle(uow, order, attempt, trade_status=note.trade_status or "", trade_no=note.trade_no or "",
                                 amount_fen=note.total_amount_fen, paid_at=note.gmt_payment, buyer_id=note.buyer_id,
                                 source="notify", now=now)
            uow.commit()
        return outcome

    def pay_by_qr(self, account_id: str, order_id: str) -> QrCode:
        """A QR code for what the caller's order still owes; asking again returns the same code."""
        client = self._alipay()
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            order = self.orders.owned(db, order_id, account_id, lock=True)
            owed = order.amount_fen - order.paid_fen
            by_qr = order.status == "paying" and not charging(db, order)  # its QR code awaits the scan (or just lapsed)
            if (order.status not in OPEN and not by_qr) or owed <= 0 or order.review is not None:
                why = "a charge is in progress" if order.status == "paying" else "it awaits an operator" if order.review else "nothing is owed"
                raise Conflict(f"order {order_id} is {order.status}: {why}", field="status", value=order.status)
            if order.account_id is None:
                audit(db, order, account_id, "claim", "the plate's holder pays an order of nobody's", now)
                order.account_id = account_id
            order.next_charge_at = None  # the driver pays by QR; the worker must not charge it as well
            attempt = live_qr(db, order, now, amount_fen=owed)
            if attempt is None:
                attempt = new_attempt(db, order, kind="qr", amount_fen=owed, now=now, query_at=now + max(self.query_after, QR_VALID))
            subject, out_trade_no, code = subject_of(order), attempt.out_trade_no, attempt.qr_code
            uow.commit()
        if code:
            return QrCode(order_id, out_trade_no, code, owed)
        try:
            result = trade_precreate(client, out_trade_no=out_trade_no, amount_fen=owed, subject=subject)
        except AlipayRefused as exc:
            with self.uow() as uow:
                found = lock_attempt(uow.session, out_trade_no)
                fail_attempt(uow, *found, reason=exc.message, now=self.clock())
                uow.commit()
            raise
        with self.uow() as uow:
            order, attempt = lock_attempt(uow.session, out_trade_no)
            attempt.qr_code, attempt.updated_at = result.qr_code, self.clock()
            if order.status in OPEN and attempt.status == "pending":  # issued and awaiting the scan: paying, as the driver sees it
                move(uow.session, order, "paying", actor=account_id, reason=f"QR code {out_trade_no} issued", at=attempt.updated_at)
            uow.commit()
        return QrCode(order_id, out_trade_no, result.qr_code, owed)

    def attempts_of(self, order_id: str) -> list[PaymentAttempt]:
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(
                select(PaymentAttempt).where(PaymentAttempt.order_id == order_id).order_by(PaymentAttempt.id))))

    def payments_of(self, order_ids: list[str]) -> list[Payment]:
        if not order_ids:
            return []
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(select(Payment).where(Payment.order_id.in_(order_ids)).order_by(Payment.id))))

    def _alipay(self) -> AlipayClient:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured (set ALIPAY_APP_ID and the keys)", field="ALIPAY_APP_ID")
        return self.alipay
