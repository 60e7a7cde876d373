"""Tables of car parks joining the platform: their commissioning state, the devices registered
for them, and the MQTT credentials issued to those devices (only a hash of each password)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from parking_core.models import Base, BigId

STATES = ("commissioning", "live")
DEVICE_KINDS = ("berth_sensor", "gate_camera", "counter", "gateway")


class LotCommissioning(Base):
    """A car park registered through the operator API: `commissioning` until every registered
    device has been heard, then `live`. Lots imported from a registry file have no row: live."""

    __tablename__ = "lot_commissioning"
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(100))
    live_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RegisteredDevice(Base):
    """A device an operator declared for a car park; `berth_id`/`gate_id` say which topic it reports on."""

    __tablename__ = "registered_devices"
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    berth_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gate_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registered_at: Mapped[datetime]


class DeviceCredential(Base):
    """An MQTT user issued to one device; at most one per device is not revoked."""

    __tablename__ = "device_credentials"
    __table_args__ = (
        ForeignKeyConstraint(["lot_id", "device_id"], ["registered_devices.lot_id", "registered_devices.id"], ondelete="CASCADE"),
        Index("ix_device_credentials_username", "username"),
        Index("uq_device_credentials_active", "lot_id", "device_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(130))
    lot_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


__all__ = ["DEVICE_KINDS", "STATES", "DeviceCredential", "LotCommissioning", "RegisteredDevice"]
