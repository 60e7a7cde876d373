"""Driver accounts, sign-in codes, plate bindings and disputes over who holds a plate."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base

AGREEMENT_STATUSES = ("none", "pending", "active", "cancelled")
DISPUTE_STATUSES = ("open", "granted", "rejected")
BINDING_STATUSES = ("unverified", "verified")
EVIDENCE_STATUSES = ("pending", "approved", "rejected")


class Account(Base):
    """A driver, registered once by phone; the withholding agreement lets billing charge after exit."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime]
    alipay_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    agreement_no: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    agreement_status: Mapped[str] = mapped_column(String(12), default="none")
    agreement_signed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class VerificationCode(Base):
    """A sign-in code sent by SMS, kept only as a keyed hash (see parking_core.accounts)."""

    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_phone_created", "phone", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(default=False)


class PlateBinding(Base):
    """A plate bound to an account; unbinding keeps the row as history."""

    __tablename__ = "plate_bindings"
    __table_args__ = (
        # One active holder per plate, city-wide: the database settles races the service check cannot.
        Index(
            "uq_plate_bindings_active_plate", "plate", unique=True,
            postgresql_where=text("unbound_at IS NULL"), sqlite_where=text("unbound_at IS NULL"),
        ),
        Index("ix_plate_bindings_account", "account_id", "unbound_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    plate: Mapped[str] = mapped_column(String(16))
    color: Mapped[str | None] = mapped_column(String(8), nullable=True)
    bound_at: Mapped[datetime]
    unbound_at: Mapped[datetime | None] = mapped_column(nullable=True)
    unbound_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A new binding is unverified until its holder proves ownership (parking_core/plate_verification.py); rows
    # from before migration 0010 stay verified, so a deployment keeps charging the drivers it charged.
    status: Mapped[str] = mapped_column(String(12), default="unverified", server_default="verified")
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PlateDispute(Base):
    """A driver's claim to a plate another account holds, decided by an operator."""

    __tablename__ = "plate_disputes"
    __table_args__ = (
        # A claimant keeps at most one open dispute per plate.
        Index(
            "uq_plate_disputes_open_claim", "plate", "claimant_account_id", unique=True,
            postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'"),
        ),
        Index("ix_plate_disputes_status_created", "status", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plate: Mapped[str] = mapped_column(String(16))
    color: Mapped[str | None] = mapped_column(String(8), nullable=True)
    claimant_account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    holder_account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(12), default="open")
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class PlateEvidence(Base):
    """A vehicle licence (行驶证) image or PDF a holder uploaded for one binding; the file is kept outside the web
    root under its SHA-256, shown only to the operator or city reviewing it."""

    __tablename__ = "plate_evidence"
    __table_args__ = (Index("ix_plate_evidence_status_created", "status", "created_at"),
                      Index("ix_plate_evidence_binding", "binding_id"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    binding_id: Mapped[str] = mapped_column(ForeignKey("plate_bindings.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    plate: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


__all__ = ["Account", "VerificationCode", "PlateBinding", "PlateDispute", "PlateEvidence", "AGREEMENT_STATUSES",
           "BINDING_STATUSES", "DISPUTE_STATUSES", "EVIDENCE_STATUSES"]


class SignInSession(Base):
    """One signed-in device: its access tokens name it (`sid`), its refresh token is kept as a
    hash and rotated on every use; revoking it (logout, logout everywhere) ends its tokens at once."""

    __tablename__ = "signin_sessions"
    __table_args__ = (Index("ix_signin_sessions_account", "account_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    refreshed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
