"""Parking sessions (a car's stay at a car park) and the audit trail of every correction."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base, BigId

SESSION_STATUSES = ("open", "closed", "unmatched", "void")


class ParkingSession(Base):
    """One stay: opened by an entry (gate `in`, or a video berth turning occupied with a plate),
    closed by the matching exit. `entry_key`/`exit_key` are the device events that did it, unique
    per lot, so a re-delivered passage can never open or close a second time."""

    __tablename__ = "parking_sessions"
    __table_args__ = (
        UniqueConstraint("lot_id", "entry_key", name="uq_parking_sessions_entry"),
        UniqueConstraint("lot_id", "exit_key", name="uq_parking_sessions_exit"),
        Index("ix_parking_sessions_lot_plate_status", "lot_id", "plate", "status"),
        Index("ix_parking_sessions_plate", "plate"),
        Index("ix_parking_sessions_status_entered", "status", "entered_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(64))
    plate: Mapped[str] = mapped_column(String(16))
    plate_color: Mapped[str | None] = mapped_column(String(8), nullable=True)
    vehicle: Mapped[str] = mapped_column(String(8), default="small")
    new_energy: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8))  # gate | berth
    berth_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    entry_key: Mapped[str | None] = mapped_column(String(160), nullable=True)
    exit_key: Mapped[str | None] = mapped_column(String(160), nullable=True)
    entered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    exited_at: Mapped[datetime | None] = mapped_column(nullable=True)
    exit_plate: Mapped[str | None] = mapped_column(String(16), nullable=True)  # as read at the exit, if it differed
    review: Mapped[str | None] = mapped_column(Text, nullable=True)  # why a person should look, or None
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SessionAudit(Base):
    """Who changed what on a session, from what to what, and why."""

    __tablename__ = "session_audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("parking_sessions.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(32), nullable=True)
    old: Mapped[str | None] = mapped_column(Text, nullable=True)
    new: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


__all__ = ["ParkingSession", "SessionAudit", "SESSION_STATUSES"]
