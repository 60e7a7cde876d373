"""Tariff versions operators publish through the API: each version of a tariff is kept for ever, with the moment
it comes into force, so an order (and guidance's expected price) can use the version in force when the stay began.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base, BigId


class TariffVersion(Base):
    """One published version of one tariff: the validated rule set as data, never changed once written."""

    __tablename__ = "tariff_versions"
    __table_args__ = (
        UniqueConstraint("tariff_id", "version", name="uq_tariff_versions_tariff_version"),
        Index("ix_tariff_versions_tariff_effective", "tariff_id", "effective_from"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict] = mapped_column(JSON)
    effective_from: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
