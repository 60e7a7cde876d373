"""billing: orders, attempts, payments, refunds, notifications, monthly passes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:07:08.073293
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alipay_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('notify_id', sa.String(length=64), nullable=False),
    sa.Column('notify_type', sa.String(length=32), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=True),
    sa.Column('trade_status', sa.String(length=20), nullable=True),
    sa.Column('total_amount_fen', sa.Integer(), nullable=True),
    sa.Column('refund_fee_fen', sa.Integer(), nullable=True),
    sa.Column('out_biz_no', sa.String(length=64), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alipay_notifications')),
    sa.UniqueConstraint('notify_id', name=op.f('uq_alipay_notifications_notify_id'))
    )
    with op.batch_alter_table('alipay_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alipay_notifications_out_trade_no'), ['out_trade_no'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('paid_fen', sa.Integer(), nullable=False),
    sa.Column('refunded_fen', sa.Integer(), nullable=False),
    sa.Column('tariff_id', sa.String(length=64), nullable=True),
    sa.Column('tariff_version', sa.Integer(), nullable=True),
    sa.Column('vehicle', sa.String(length=8), nullable=False),
    sa.Column('new_energy', sa.Boolean(), nullable=False),
    sa.Column('pass_covered', sa.Boolean(), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=False),
    sa.Column('entered_at', UTCDateTime(), nullable=False),
    sa.Column('exited_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('next_charge_at', UTCDateTime(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('review', sa.Text(), nullable=True),
    sa.Column('review_amount_fen', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('paid_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_orders_account_id_accounts')),
    sa.ForeignKeyConstraint(['session_id'], ['parking_sessions.id'], name=op.f('fk_orders_session_id_parking_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('session_id', name=op.f('uq_orders_session_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_account_status', ['account_id', 'status'], unique=False)
        batch_op.create_index('ix_orders_operator_created', ['operator_id', 'created_at'], unique=False)
        batch_op.create_index('ix_orders_plate_status', ['plate', 'status'], unique=False)
        batch_op.create_index('ix_orders_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_orders_status_next_charge', ['status', 'next_charge_at'], unique=False)

    op.create_table('monthly_passes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_monthly_passes_lot_id_lots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_passes'))
    )
    with op.batch_alter_table('monthly_passes', schema=None) as batch_op:
        batch_op.create_index('ix_monthly_passes_plate_lot', ['plate', 'lot_id'], unique=False)

    op.create_table('order_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('old_amount_fen', sa.Integer(), nullable=True),
    sa.Column('new_amount_fen', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_audit_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_audit'))
    )
    with op.batch_alter_table('order_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_audit_order_id'), ['order_id'], unique=False)

    op.create_table('payment_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('agreement_no', sa.String(length=64), nullable=True),
    sa.Column('trade_no', sa.String(length=64), nullable=True),
    sa.Column('qr_code', sa.Text(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('queries', sa.Integer(), nullable=False),
    sa.Column('next_query_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payment_attempts_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_attempts')),
    sa.UniqueConstraint('out_trade_no', name=op.f('uq_payment_attempts_out_trade_no'))
    )
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_payment_attempts_order', ['order_id'], unique=False)
        batch_op.create_index('ix_payment_attempts_status_next_query', ['status', 'next_query_at'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('paid_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('buyer_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['attempt_id'], ['payment_attempts.id'], name=op.f('fk_payments_attempt_id_payment_attempts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_payments_attempt_id')),
    sa.UniqueConstraint('out_trade_no', name=op.f('uq_payments_out_trade_no'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_order', ['order_id'], unique=False)
        batch_op.create_index('ix_payments_paid_at', ['paid_at'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('out_request_no', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('order_id', 'request_id', name='uq_refunds_order_request'),
    sa.UniqueConstraint('out_request_no', name=op.f('uq_refunds_out_request_no'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index('ix_refunds_status_completed', ['status', 'completed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_refunds_status_completed')

    op.drop_table('refunds')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_paid_at')
        batch_op.drop_index('ix_payments_order')

    op.drop_table('payments')
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_attempts_status_next_query')
        batch_op.drop_index('ix_payment_attempts_order')

    op.drop_table('payment_attempts')
    with op.batch_alter_table('order_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_audit_order_id'))

    op.drop_table('order_audit')
    with op.batch_alter_table('monthly_passes', schema=None) as batch_op:
        batch_op.drop_index('ix_monthly_passes_plate_lot')

    op.drop_table('monthly_passes')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status_next_charge')
        batch_op.drop_index('ix_orders_status_due')
        batch_op.drop_index('ix_orders_plate_status')
        batch_op.drop_index('ix_orders_operator_created')
        batch_op.drop_index('ix_orders_account_status')

    op.drop_table('orders')
    with op.batch_alter_table('alipay_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alipay_notifications_out_trade_no'))

    op.drop_table('alipay_notifications')
