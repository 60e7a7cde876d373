"""The registry and the occupancy event log as SQLAlchemy 2 tables.

Availability itself lives in the live state (Redis or in-process); the database keeps
what must survive: the city's car parks and every accepted sensor event, from which
live state can be rebuilt and history answered.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and gives them back aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class District(Base):
    __tablename__ = "districts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Lot(Base):
    """A car park: on-street (a charged street's berths) or off-street (gates)."""

    __tablename__ = "lots"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"))
    district_id: Mapped[str] = mapped_column(ForeignKey("districts.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    total: Mapped[int] = mapped_column(Integer)
    tariff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shared_hours: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime]


class Berth(Base):
    __tablename__ = "berths"
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Device(Base):
    """Any device that has spoken for a lot: berth sensors, gate cameras, counters."""

    __tablename__ = "devices"
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_at: Mapped[datetime]
    battery_mv: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OccupancyEvent(Base):
    """Every accepted device message, once: its key in `occupancy_event_keys` makes re-delivery harmless.

    On PostgreSQL the table is partitioned by Shanghai calendar month of `ts` (migration 0012,
    parking_core/event_log_partitions.py), so its primary key there is (id, ts): a partitioned table's
    keys must hold the partition key. `id` alone stays the ORM's identity (one sequence numbers every
    row); the (lot, dedupe key) uniqueness lives in the unpartitioned key table, which no month bounds.
    """

    __tablename__ = "occupancy_events"
    __table_args__ = (Index("ix_occupancy_events_lot_ts", "lot_id", "ts"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lot_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(160))
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[dict] = mapped_column(JSON)


class OccupancyEventKey(Base):
    """Each logged event's (lot, dedupe key), once, whatever month it fell in: the arbiter of
    `INSERT ... ON CONFLICT DO NOTHING` (parking_core/eventlog.py). A partitioned table can only be
    unique per partition key, and a re-sent message may carry another month's time; this table is not
    partitioned, so de-duplication spans every kept month. Retiring a month deletes its keys with it."""

    __tablename__ = "occupancy_event_keys"
    lot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), primary_key=True)


class AvailabilityChange(Base):
    """A lot's free count or status as it changed: the source for history and forecasts."""

    __tablename__ = "availability_changes"
    __table_args__ = (Index("ix_availability_changes_lot_ts", "lot_id", "ts"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lot_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    free: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))


__all__ = [
    "Base",
    "Operator",
    "District",
    "Lot",
    "Berth",
    "Device",
    "OccupancyEvent",
    "OccupancyEventKey",
    "AvailabilityChange",
]
