"""car parks joining the platform: commissioning, device MQTT credentials

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:45:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lot_commissioning',
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('registered_at', UTCDateTime(), nullable=False),
    sa.Column('registered_by', sa.String(length=100), nullable=False),
    sa.Column('live_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_lot_commissioning_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lot_id', name=op.f('pk_lot_commissioning'))
    )
    op.create_table('registered_devices',
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('berth_id', sa.String(length=64), nullable=True),
    sa.Column('gate_id', sa.String(length=64), nullable=True),
    sa.Column('registered_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_registered_devices_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lot_id', 'id', name=op.f('pk_registered_devices'))
    )
    op.create_table('device_credentials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=130), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('issued_by', sa.String(length=100), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['lot_id', 'device_id'], ['registered_devices.lot_id', 'registered_devices.id'],
                            name=op.f('fk_device_credentials_lot_id_registered_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credentials'))
    )
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.create_index('ix_device_credentials_username', ['username'], unique=False)
        batch_op.create_index('uq_device_credentials_active', ['lot_id', 'device_id'], unique=True,
                              sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.drop_index('uq_device_credentials_active')
        batch_op.drop_index('ix_device_credentials_username')
    op.drop_table('device_credentials')
    op.drop_table('registered_devices')
    op.drop_table('lot_commissioning')
