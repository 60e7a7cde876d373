"""reconciliation that closes: days, difference cases, resolutions; stay lists from car parks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:45:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('reconciliation_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('bill_lines', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('alipay_net_fen', _BIG, nullable=False),
    sa.Column('ours_net_fen', _BIG, nullable=False),
    sa.Column('service_fee_fen', _BIG, nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('last_run_at', UTCDateTime(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_reconciliation_days'))
    )
    op.create_table('reconciliation_cases',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('line', sa.String(length=8), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('request_no', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=True),
    sa.Column('operator_id', sa.String(length=64), nullable=True),
    sa.Column('ours_fen', sa.Integer(), nullable=True),
    sa.Column('alipay_fen', sa.Integer(), nullable=True),
    sa.Column('alipay_at', UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('resolution', sa.String(length=20), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('alipay_view', sa.JSON(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['day'], ['reconciliation_days.day'], name=op.f('fk_reconciliation_cases_day_reconciliation_days'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_cases')),
    sa.UniqueConstraint('day', 'key', name='uq_reconciliation_cases_day_key')
    )
    with op.batch_alter_table('reconciliation_cases', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_cases_day_status', ['day', 'status'], unique=False)
        batch_op.create_index('ix_reconciliation_cases_operator', ['operator_id', 'day'], unique=False)
    op.create_table('stay_lists',
    sa.Column('id', _BIG, autoincrement=True, nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('exits', sa.Integer(), nullable=False),
    sa.Column('sent_by', sa.String(length=64), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_stay_lists_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stay_lists')),
    sa.UniqueConstraint('lot_id', 'day', name='uq_stay_lists_lot_day')
    )
    op.create_table('stay_list_lines',
    sa.Column('id', _BIG, autoincrement=True, nullable=False),
    sa.Column('list_id', _BIG, nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['stay_lists.id'], name=op.f('fk_stay_list_lines_list_id_stay_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stay_list_lines'))
    )
    with op.batch_alter_table('stay_list_lines', schema=None) as batch_op:
        batch_op.create_index('ix_stay_list_lines_list', ['list_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stay_list_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_stay_list_lines_list')
    op.drop_table('stay_list_lines')
    op.drop_table('stay_lists')
    with op.batch_alter_table('reconciliation_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_cases_operator')
        batch_op.drop_index('ix_reconciliation_cases_day_status')
    op.drop_table('reconciliation_cases')
    op.drop_table('reconciliation_days')
