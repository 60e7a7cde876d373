"""Billing's tables: one order per stay, the charge attempts and payments against it, refunds, monthly passes,
the notifications Alipay sent, and an audit line for every change of an order's amount or state.

All money is integer fen. An order's `paid_fen` and `refunded_fen` are the sums of its payments and of its
succeeded refunds, kept on the row so a locked order answers "how much may still be refunded" at once.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base, BigId

ORDER_STATUSES = ("unpaid", "paying", "paid", "arrears", "refunded", "partially_refunded", "void")
ATTEMPT_KINDS = ("withholding", "qr")
ATTEMPT_STATUSES = ("pending", "paid", "failed", "closed")
REFUND_STATUSES = ("pending", "succeeded", "failed")


class Order(Base):
    """What one closed stay costs and how far it has been paid."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_due", "status", "due_at"),
        Index("ix_orders_status_next_charge", "status", "next_charge_at"),
        Index("ix_orders_account_status", "account_id", "status"),
        Index("ix_orders_plate_status", "plate", "status"),
        Index("ix_orders_operator_created", "operator_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("parking_sessions.id"), unique=True)
    lot_id: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[str] = mapped_column(String(64))
    plate: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    tariff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tariff_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vehicle: Mapped[str] = mapped_column(String(8))
    new_energy: Mapped[bool] = mapped_column(Boolean, default=False)
    pass_covered: Mapped[bool] = mapped_column(Boolean, default=False)
    breakdown: Mapped[list] = mapped_column(JSON, default=list)  # receipt lines as priced, so a receipt never drifts
    entered_at: Mapped[datetime]
    exited_at: Mapped[datetime]
    due_at: Mapped[datetime]
    next_charge_at: Mapped[datetime | None] = mapped_column(nullable=True)  # when the worker should charge it, or None
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it is still unpaid
    review: Mapped[str | None] = mapped_column(Text, nullable=True)  # why a person must decide (e.g. a refund), or None
    review_amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the recomputed amount awaiting that decision
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OrderAudit(Base):
    """Every change of an order's state or amount: who, from what to what, and why."""

    __tablename__ = "order_audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    old_amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class PaymentAttempt(Base):
    """One request for money at Alipay (a withholding charge or a QR code), under its own out_trade_no."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_status_next_query", "status", "next_query_at"),
        Index("ix_payment_attempts_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    agreement_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    qr_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    next_query_at: Mapped[datetime | None] = mapped_column(nullable=True)  # when to ask alipay.trade.query, if still pending
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payment(Base):
    """Money Alipay received for an order: at most one per attempt, whatever told us (answer, notification, query)."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_paid_at", "paid_at"), Index("ix_payments_order", "order_id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("payment_attempts.id"), unique=True)
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    trade_no: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(Integer)
    paid_at: Mapped[datetime]  # Alipay's time of payment: the day the bill lists it under
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(12))  # answer | notify | query
    buyer_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Refund(Base):
    """An operator's refund of part or all of one payment; the client's request id makes a repeat harmless."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "request_id", name="uq_refunds_order_request"),
        Index("ix_refunds_status_completed", "status", "completed_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    request_id: Mapped[str] = mapped_column(String(64))
    out_request_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)  # Alipay's time of the refund


class AlipayNotificationRecord(Base):
    """Each verified trade notification once (by notify_id): Alipay's retries and duplicates find it and change nothing."""

    __tablename__ = "alipay_notifications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notify_id: Mapped[str] = mapped_column(String(64), unique=True)
    notify_type: Mapped[str] = mapped_column(String(32))
    out_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    trade_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    total_amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refund_fee_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    out_biz_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime]
    raw: Mapped[dict] = mapped_column(JSON)


class MonthlyPass(Base):
    """A plate's pass for one car park, valid on whole Shanghai days from valid_from to valid_to inclusive."""

    __tablename__ = "monthly_passes"
    __table_args__ = (Index("ix_monthly_passes_plate_lot", "plate", "lot_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plate: Mapped[str] = mapped_column(String(16))
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


__all__ = [
    "ATTEMPT_KINDS", "ATTEMPT_STATUSES", "ORDER_STATUSES", "REFUND_STATUSES", "AlipayNotificationRecord", "MonthlyPass",
    "Order", "OrderAudit", "Payment", "PaymentAttempt", "Refund",
]
