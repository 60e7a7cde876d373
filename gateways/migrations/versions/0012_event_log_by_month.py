"""event log: partitioned by Shanghai calendar month on PostgreSQL; de-duplication keys in a table of their own

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 18:00:00.000000

PostgreSQL: `occupancy_events` becomes a table partitioned by RANGE on `ts`, one partition per Shanghai
calendar month (`occupancy_events_2026_12` holds [2026-12-01 00:00+08, 2027-01-01 00:00+08)) and a DEFAULT
partition for rows of a month that has none yet. Every existing row is carried over with its id (the same
sequence goes on numbering); partitions are made for every month the data covers and for the current and
next month. A partitioned table's unique keys must hold its partition key, so the primary key becomes
(id, ts) and the (lot, dedupe key) uniqueness moves to `occupancy_event_keys`, unpartitioned, filled from
the existing rows: what was logged before is a duplicate after. One transaction: all of it or nothing.

SQLite: the table stays plain (no partitioning there); only the uniqueness moves to the key table, so one
insert path and one schema serve both.

Kept self-contained (its own month arithmetic) so later changes to parking_core cannot change it.
"""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

SHANGHAI = ZoneInfo("Asia/Shanghai")
COLS = "id, lot_id, kind, subject, dedupe_key, ts, received_at, data"


def _next(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1)


def _bound(m: date) -> str:
    """The instant a Shanghai month starts, as an unambiguous UTC literal."""
    return datetime(m.year, m.month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc).isoformat(sep=" ")


def _create_month(m: date) -> None:
    op.execute(f"CREATE TABLE occupancy_events_{m.year:04d}_{m.month:02d} PARTITION OF occupancy_events "
               f"FOR VALUES FROM ('{_bound(m)}') TO ('{_bound(_next(m))}')")


def _columns(seq: str, pk: str, unique: str = "") -> str:
    return (f"(id bigint NOT NULL DEFAULT nextval('{seq}'::regclass), lot_id varchar(64) NOT NULL, kind varchar(16) NOT NULL, "
            "subject varchar(64) NOT NULL, dedupe_key varchar(160) NOT NULL, ts timestamptz NOT NULL, "
            f"received_at timestamptz NOT NULL, data json NOT NULL, CONSTRAINT pk_occupancy_events PRIMARY KEY ({pk}){unique})")


def _keys_table() -> None:
    op.create_table(
        "occupancy_event_keys",
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(160), nullable=False),
        sa.PrimaryKeyConstraint("lot_id", "dedupe_key", name="pk_occupancy_event_keys"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        _keys_table()
        op.execute("INSERT INTO occupancy_event_keys (lot_id, dedupe_key) SELECT lot_id, dedupe_key FROM occupancy_events")
        with op.batch_alter_table("occupancy_events") as batch:
            batch.drop_constraint("uq_occupancy_events_lot_key", type_="unique")
        return
    seq = bind.execute(sa.text("SELECT pg_get_serial_sequence('occupancy_events', 'id')")).scalar_one()
    op.execute("ALTER TABLE occupancy_events RENAME TO occupancy_events_unpartitioned")
    op.execute("ALTER TABLE occupancy_events_unpartitioned RENAME CONSTRAINT pk_occupancy_events TO pk_occupancy_events_unpartitioned")
    op.execute("ALTER INDEX ix_occupancy_events_lot_ts RENAME TO ix_occupancy_events_unpartitioned_lot_ts")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")  # it outlives the old table: ids go on from where they were
    op.execute(f"CREATE TABLE occupancy_events {_columns(seq, 'id, ts')} PARTITION BY RANGE (ts)")
    op.execute("CREATE INDEX ix_occupancy_events_lot_ts ON occupancy_events (lot_id, ts)")
    op.execute("CREATE TABLE occupancy_events_default PARTITION OF occupancy_events DEFAULT")
    now = datetime.now(timezone.utc).astimezone(SHANGHAI).date().replace(day=1)
    months = {now, _next(now)} | {
        m.date() for m in bind.execute(sa.text(
            "SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'Asia/Shanghai') FROM occupancy_events_unpartitioned")).scalars()}
    for m in sorted(months):
        _create_month(m)
    op.execute(f"INSERT INTO occupancy_events ({COLS}) SELECT {COLS} FROM occupancy_events_unpartitioned")
    _keys_table()
    op.execute("INSERT INTO occupancy_event_keys (lot_id, dedupe_key) SELECT lot_id, dedupe_key FROM occupancy_events_unpartitioned")
    op.execute("DROP TABLE occupancy_events_unpartitioned")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY occupancy_events.id")


def downgrade() -> None:
    """Back to one plain table with its (lot, dedupe key) unique constraint; every row kept. Months a
    retirement had detached but not yet dropped stay as tables of their own (they are data)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("occupancy_events") as batch:
            batch.create_unique_constraint("uq_occupancy_events_lot_key", ["lot_id", "dedupe_key"])
        op.drop_table("occupancy_event_keys")
        return
    seq = bind.execute(sa.text("SELECT pg_get_serial_sequence('occupancy_events', 'id')")).scalar_one()
    op.execute("ALTER TABLE occupancy_events RENAME TO occupancy_events_partitioned")
    op.execute("ALTER TABLE occupancy_events_partitioned RENAME CONSTRAINT pk_occupancy_events TO pk_occupancy_events_partitioned")
    op.execute("ALTER INDEX ix_occupancy_events_lot_ts RENAME TO ix_occupancy_events_partitioned_lot_ts")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    unique = ", CONSTRAINT uq_occupancy_events_lot_key UNIQUE (lot_id, dedupe_key)"
    op.execute(f"CREATE TABLE occupancy_events {_columns(seq, 'id', unique)}")
    op.execute("CREATE INDEX ix_occupancy_events_lot_ts ON occupancy_events (lot_id, ts)")
    op.execute(f"INSERT INTO occupancy_events ({COLS}) SELECT {COLS} FROM occupancy_events_partitioned ORDER BY id")
    op.execute("DROP TABLE occupancy_events_partitioned")  # and its partitions with it
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY occupancy_events.id")
    op.drop_table("occupancy_event_keys")

