"""registry and occupancy log

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:34:17.608842
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('availability_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('ts', UTCDateTime(), nullable=False),
    sa.Column('free', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_changes'))
    )
    with op.batch_alter_table('availability_changes', schema=None) as batch_op:
        batch_op.create_index('ix_availability_changes_lot_ts', ['lot_id', 'ts'], unique=False)

    op.create_table('districts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_districts'))
    )
    op.create_table('occupancy_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('ts', UTCDateTime(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_occupancy_events')),
    sa.UniqueConstraint('lot_id', 'dedupe_key', name='uq_occupancy_events_lot_key')
    )
    with op.batch_alter_table('occupancy_events', schema=None) as batch_op:
        batch_op.create_index('ix_occupancy_events_lot_ts', ['lot_id', 'ts'], unique=False)

    op.create_table('operators',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators'))
    )
    op.create_table('lots',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=False),
    sa.Column('district_id', sa.String(length=64), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('tariff_id', sa.String(length=64), nullable=True),
    sa.Column('shared_hours', sa.String(length=16), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_lots_district_id_districts')),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_lots_operator_id_operators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots'))
    )
    op.create_table('berths',
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_berths_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lot_id', 'id', name=op.f('pk_berths'))
    )
    op.create_table('devices',
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('battery_mv', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_devices_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lot_id', 'id', name=op.f('pk_devices'))
    )


def downgrade() -> None:
    op.drop_table('devices')
    op.drop_table('berths')
    op.drop_table('lots')
    op.drop_table('operators')
    with op.batch_alter_table('occupancy_events', schema=None) as batch_op:
        batch_op.drop_index('ix_occupancy_events_lot_ts')

    op.drop_table('occupancy_events')
    op.drop_table('districts')
    with op.batch_alter_table('availability_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_availability_changes_lot_ts')

    op.drop_table('availability_changes')
