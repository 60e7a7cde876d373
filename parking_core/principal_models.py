"""Who may use the operator API: people and API keys of the city, a district or an operator, and the
console's sign-in sessions. Secrets are never stored: keys and session tokens as SHA-256, passwords as argon2."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base


class OperatorUser(Base):
    """A person who signs in to the console with a user name and password."""

    __tablename__ = "operator_users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    org_kind: Mapped[str] = mapped_column(String(16))  # city | district | operator
    org_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # viewer | staff | finance | admin
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OperatorApiKey(Base):
    """An API key: random, shown once, kept as its SHA-256; it expires and can be revoked."""

    __tablename__ = "operator_api_keys"
    __table_args__ = (Index("ix_operator_api_keys_org", "org_kind", "org_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    org_kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class ConsoleSession(Base):
    """A console sign-in: a short-lived token (kept as its SHA-256) for one user."""

    __tablename__ = "operator_console_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("operator_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TariffOwner(Base):
    """The operator that owns a tariff id it published first (a tariff none of its car parks used yet)."""

    __tablename__ = "tariff_owners"
    tariff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
