"""tariff versions: rule sets operators publish, each in force from its effective time

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tariff_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tariff_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('format', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('effective_from', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariff_versions')),
    sa.UniqueConstraint('tariff_id', 'version', name='uq_tariff_versions_tariff_version')
    )
    with op.batch_alter_table('tariff_versions', schema=None) as batch_op:
        batch_op.create_index('ix_tariff_versions_tariff_effective', ['tariff_id', 'effective_from'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tariff_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_tariff_versions_tariff_effective')
    op.drop_table('tariff_versions')
