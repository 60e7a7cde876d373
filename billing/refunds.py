"""Refunds by operators: full or partial, with a reason, never more than was paid (pending refunds count),
and idempotent by the client's request id, which also names the refund at Alipay (out_request_no)."""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.alipay.client import AlipayClient, AlipayError, AlipayRefused, trade_refund
from billing.alipay.notify import NotificationRejected
from billing.events import RefundRecorded
from billing.models import Order, Payment, Refund
from billing.order_states import SETTLED
from billing.order_tx import audit, lock_order, move
from parking_core.audit import Actor, actor_of, record_audit
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, DependencyUnavailable, InvalidInput

log = logging.getLogger("parking.billing")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MAX_REASON = 256


class RefundRefused(Conflict):
    """Alipay refused the refund (e.g. the trade is finished); the refund is recorded as failed."""

    code = "refund_refused"


def confirm_refund(uow: UnitOfWork, order: Order, *, out_request_no: str | None, at: datetime, now: datetime,
                   refunded_total_fen: int | None = None) -> str:
    """Alipay says this refund was made: count it once and move the order to (partially_)refunded.
    `refunded_total_fen` (the notification's refund_fee: all refunded of the trade so far) must equal
    what we refunded of that payment including this one, else NotificationRejected and nothing changes."""
    db = uow.session
    refund = db.scalars(select(Refund).where(Refund.order_id == order.id, Refund.out_request_no == (out_request_no or ""))
                        .with_for_update()).first()
    if refund is None:
        order.review = f"Alipay reports refund {out_request_no!r}, which was not made through the platform: check it"
        audit(db, order, "alipay", "flag_refund", order.review, now)
        return "unknown_refund"
    if refund.status == "succeeded":
        return "already_recorded"
    if refunded_total_fen is not None:
        before = db.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == refund.payment_id, Refund.status == "succeeded"))
        if refunded_total_fen != before + refund.amount_fen:
            raise NotificationRejected(f"refund_fee is {refunded_total_fen} fen, we refunded {before + refund.amount_fen} fen of that payment "
                                       f"with {refund.out_request_no}", kind="wrong_amount", field="refund_fee", value=refunded_total_fen)
    refund.status, refund.completed_at, refund.failure_reason = "succeeded", at, None
    order.refunded_fen += refund.amount_fen
    order.updated_at = now
    why = f"refund {refund.out_request_no} of {refund.amount_fen} fen: {refund.reason}"
    new = "refunded" if order.refunded_fen >= order.paid_fen else "partially_refunded"
    if order.status in SETTLED and new != order.status:
        move(db, order, new, actor=refund.requested_by, reason=why, at=now)
    else:
        audit(db, order, refund.requested_by, "refund", why, now)
    uow.record(RefundRecorded(order.id, order.account_id, refund.amount_fen, refund.reason))
    return "recorded"


def _refundable(db: Session, payment_id: int) -> int:
    """What may still be refunded of one payment: its amount less refunds succeeded or pending."""
    taken = db.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
        Refund.payment_id == payment_id, Refund.status.in_(("pending", "succeeded"))))
    amount = db.scalar(select(Payment.amount_fen).where(Payment.id == payment_id))
    return amount - taken


@dataclass
class Refunds:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    alipay: AlipayClient | None = None
    retry_after: timedelta = timedelta(seconds=60)

    def refund(self, order_id: str, *, amount_fen: int, reason: str, request_id: str, operator: str,
               actor: Actor | None = None) -> tuple[Refund, bool]:
        """Refund `amount_fen` of an order's payments; (the refund, whether this call created it). A repeat of the
        same request id returns the same refund (and re-sends it while Alipay has not confirmed it). `operator` is the
        name kept on the refund, `actor` who the audit log names (by default a person of that name): the refund and its
        `refund` row commit together, before Alipay is asked."""
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 1:
            raise InvalidInput(f"amount_fen must be a positive integer of fen, got {amount_fen!r}", field="amount_fen", value=amount_fen)
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidInput(f"a refund needs a reason of 1-{MAX_REASON} characters", field="reason", value=reason)
        if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            raise InvalidInput("request_id must be 1-64 letters, digits or _.:-", field="request_id", value=request_id)
        client = self._alipay()
        with self.uow() as uow:
            db = uow.session
            order = lock_order(db, order_id)
            refund = db.scalars(select(Refund).where(Refund.order_id == order_id, Refund.request_id == request_id)).first()
            if refund is not None:
                if refund.amount_fen != amount_fen:
                    raise Conflict(f"request_id {request_id!r} was used for a refund of {refund.amount_fen} fen, not {amount_fen}",
                                   field="request_id", value=request_id)
                if refund.status != "pending":
                    return kept(db, refund), False
                created = False
            else:
                refund, created = self._new(db, order, amount_fen=amount_fen, reason=reason.strip(), request_id=request_id,
                                            operator=operator), True
                record_audit(db, actor=actor or actor_of(operator), action="refund", subject=f"order:{order_id}",
                             operator_id=order.operator_id, before=None, after={
                                 "request_id": request_id, "amount_fen": amount_fen, "status": refund.status, "reason": refund.reason},
                             at=refund.created_at)
            uow.commit()
        return self._send(client, refund.out_request_no), created

    def _new(self, db: Session, order: Order, *, amount_fen: int, reason: str, request_id: str, operator: str) -> Refund:
        if order.status == "paying":
            raise Conflict(f"order {order.id} has a charge in progress; refund once it settles", field="status", value=order.status)
        pending = db.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.order_id == order.id, Refund.status == "pending"))
        refundable = order.paid_fen - order.refunded_fen - pending
        if amount_fen > refundable:
            raise Conflict(f"amount_fen {amount_fen} is more than the {refundable} fen that may still be refunded "
                           f"(paid {order.paid_fen}, refunded {order.refunded_fen}, pending {pending})",
                           field="amount_fen", value=amount_fen, refundable_fen=refundable)
        payments = db.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id.desc()))
        payment = next((p for p in payments if _refundable(db, p.id) >= amount_fen), None)
        if payment is None:
            raise Conflict(f"no single payment of order {order.id} has {amount_fen} fen left to refund; refund each payment apart",
                           field="amount_fen", value=amount_fen)
        refund = Refund(order_id=order.id, payment_id=payment.id, request_id=request_id, out_request_no=f"R{uuid.uuid4().hex}",
                        amount_fen=amount_fen, reason=reason, requested_by=operator, status="pending", created_at=self.clock())
        db.add(refund)
        audit(db, order, operator, "refund_requested", f"{amount_fen} fen ({refund.out_request_no}): {reason}", self.clock())
        db.flush()
        return refund

    def _send(self, client: AlipayClient, out_request_no: str) -> Refund:
        """Ask Alipay (idempotent by out_request_no) and record its answer; a refund left pending is retried later."""
        with self.uow() as uow:
            refund = uow.session.scalars(select(Refund).where(Refund.out_request_no == out_request_no)).one()
            out_trade_no = uow.session.scalar(select(Payment.out_trade_no).where(Payment.id == refund.payment_id))
            kept(uow.session, refund)
        try:
            result = trade_refund(client, out_request_no=out_request_no, refund_amount_fen=refund.amount_fen,
                                  out_trade_no=out_trade_no, reason=refund.reason[:MAX_REASON])
        except AlipayRefused as exc:
            with self.uow() as uow:
                lock_order(uow.session, refund.order_id)
                row = uow.session.get(Refund, refund.id, with_for_update=True)
                if row.status == "pending":
                    row.status, row.failure_reason = "failed", exc.message
                uow.commit()
            raise RefundRefused(f"Alipay refused the refund: {exc.sub_code} {exc.sub_msg or exc.msg}", field="sub_code",
                                value=exc.sub_code, out_request_no=out_request_no) from None
        except AlipayError as exc:  # unreachable or unknown outcome: stays pending; the same out_request_no is safe to repeat
            log.warning("refund %s left pending: %s", out_request_no, exc.message)
            return refund
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            order = lock_order(db, refund.order_id)
            confirm_refund(uow, order, out_request_no=out_request_no, at=result.gmt_refund_pay or now, now=now)
            refunded = db.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                Refund.payment_id == refund.payment_id, Refund.status == "succeeded"))
            if refunded != result.refund_fee_fen:
                order.review = f"Alipay has refunded {result.refund_fee_fen} fen of {out_trade_no}, our records {refunded} fen: check it"
                audit(db, order, "alipay", "flag_refund", order.review, now)
            row = db.get(Refund, refund.id)
            uow.commit()
        return row

    def retry_pending(self) -> int:
        """Re-send refunds Alipay has not confirmed for a while; how many were sent."""
        if self.alipay is None:
            return 0
        cutoff = self.clock() - self.retry_after
        with self.uow() as uow:
            numbers = list(uow.session.scalars(select(Refund.out_request_no).where(Refund.status == "pending", Refund.created_at <= cutoff)))
        for number in numbers:
            try:
                self._send(self.alipay, number)
            except RefundRefused as exc:
                log.warning("refund %s refused on retry: %s", number, exc.message)
        return len(numbers)

    def of_order(self, order_id: str) -> list[Refund]:
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))))

    def _alipay(self) -> AlipayClient:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured (set ALIPAY_APP_ID and the keys)", field="ALIPAY_APP_ID")
        return self.alipay


__all__ = ["RefundRefused", "Refunds", "confirm_refund"]
