"""plate ownership: bindings unverified until proven, verification evidence and decisions

Bindings made before this revision stay `verified` (server default), so a deployment keeps charging the
drivers it charged; new bindings are written `unverified` by the code.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:55:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plate_bindings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='verified', nullable=False))
        batch_op.add_column(sa.Column('verified_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('verified_by', sa.String(length=64), nullable=True))
    op.create_table('plate_evidence',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('binding_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_plate_evidence_account_id_accounts')),
    sa.ForeignKeyConstraint(['binding_id'], ['plate_bindings.id'], name=op.f('fk_plate_evidence_binding_id_plate_bindings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plate_evidence'))
    )
    with op.batch_alter_table('plate_evidence', schema=None) as batch_op:
        batch_op.create_index('ix_plate_evidence_binding', ['binding_id'], unique=False)
        batch_op.create_index('ix_plate_evidence_status_created', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('plate_evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_plate_evidence_status_created')
        batch_op.drop_index('ix_plate_evidence_binding')
    op.drop_table('plate_evidence')
    with op.batch_alter_table('plate_bindings', schema=None) as batch_op:
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('status')
