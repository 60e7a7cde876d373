"""parking sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:52:25.761798
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('parking_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('plate_color', sa.String(length=8), nullable=True),
    sa.Column('vehicle', sa.String(length=8), nullable=False),
    sa.Column('new_energy', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('berth_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('entry_key', sa.String(length=160), nullable=True),
    sa.Column('exit_key', sa.String(length=160), nullable=True),
    sa.Column('entered_at', UTCDateTime(), nullable=True),
    sa.Column('exited_at', UTCDateTime(), nullable=True),
    sa.Column('exit_plate', sa.String(length=16), nullable=True),
    sa.Column('review', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parking_sessions')),
    sa.UniqueConstraint('lot_id', 'entry_key', name='uq_parking_sessions_entry'),
    sa.UniqueConstraint('lot_id', 'exit_key', name='uq_parking_sessions_exit')
    )
    with op.batch_alter_table('parking_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_parking_sessions_lot_plate_status', ['lot_id', 'plate', 'status'], unique=False)
        batch_op.create_index('ix_parking_sessions_plate', ['plate'], unique=False)
        batch_op.create_index('ix_parking_sessions_status_entered', ['status', 'entered_at'], unique=False)

    op.create_table('session_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=True),
    sa.Column('old', sa.Text(), nullable=True),
    sa.Column('new', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['parking_sessions.id'], name=op.f('fk_session_audit_session_id_parking_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_audit'))
    )
    with op.batch_alter_table('session_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_audit_session_id'), ['session_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('session_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_audit_session_id'))

    op.drop_table('session_audit')
    with op.batch_alter_table('parking_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_parking_sessions_status_entered')
        batch_op.drop_index('ix_parking_sessions_plate')
        batch_op.drop_index('ix_parking_sessions_lot_plate_status')

    op.drop_table('parking_sessions')
