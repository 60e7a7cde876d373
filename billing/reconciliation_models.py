"""Reconciliation's tables: each Shanghai day reconciled against Alipay's bill, each difference found as a case
with its resolution, and the daily stay lists car parks send in.

A case is keyed by (day, key), the key naming the difference (class, trade, refund request), so running a day
again finds the same cases instead of new ones. Money is integer fen.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base, BigId

DAY_STATUSES = ("open", "balanced", "closed")
CASE_KINDS = ("alipay_only", "ours_only", "amount_mismatch", "status_mismatch", "duplicate_payment", "other_day")
CASE_STATUSES = ("open", "awaiting_approval", "resolved")


class ReconciliationDay(Base):
    """One Shanghai day's reconciliation: `open` while a case is unresolved, `balanced` when none is, `closed` by finance."""

    __tablename__ = "reconciliation_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    bill_lines: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    alipay_net_fen: Mapped[int] = mapped_column(BigId, default=0)
    ours_net_fen: Mapped[int] = mapped_column(BigId, default=0)
    service_fee_fen: Mapped[int] = mapped_column(BigId, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReconciliationCase(Base):
    """One difference between the bill and our books, and how a person (or Alipay's answer) resolved it."""

    __tablename__ = "reconciliation_cases"
    __table_args__ = (
        UniqueConstraint("day", "key", name="uq_reconciliation_cases_day_key"),
        Index("ix_reconciliation_cases_day_status", "day", "status"),
        Index("ix_reconciliation_cases_operator", "operator_id", "day"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(ForeignKey("reconciliation_days.day", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    line: Mapped[str] = mapped_column(String(8))           # payment | refund
    out_trade_no: Mapped[str] = mapped_column(String(64))
    trade_no: Mapped[str] = mapped_column(String(64), default="")
    request_no: Mapped[str] = mapped_column(String(64), default="")
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    operator_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: not one of our orders (the city's to resolve)
    ours_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alipay_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alipay_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    proposed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)   # a write-off awaiting its second person
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    alipay_view: Mapped[dict | None] = mapped_column(JSON, nullable=True)      # the last alipay.trade.query answer
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StayList(Base):
    """A car park's own list of one day's passages, as it sent it (sending again replaces it)."""

    __tablename__ = "stay_lists"
    __table_args__ = (UniqueConstraint("lot_id", "day", name="uq_stay_lists_lot_day"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    entries: Mapped[int] = mapped_column(Integer)
    exits: Mapped[int] = mapped_column(Integer)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]


class StayListLine(Base):
    """One passage of a stay list: which line of the file, in or out, the plate (normalised) and when."""

    __tablename__ = "stay_list_lines"
    __table_args__ = (Index("ix_stay_list_lines_list", "list_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("stay_lists.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(3))
    plate: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


__all__ = ["CASE_KINDS", "CASE_STATUSES", "DAY_STATUSES", "ReconciliationCase", "ReconciliationDay", "StayList", "StayListLine"]
