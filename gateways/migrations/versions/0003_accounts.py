"""accounts, sign-in codes, plate bindings and plate disputes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:55:59.754150
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('alipay_user_id', sa.String(length=32), nullable=True),
    sa.Column('agreement_no', sa.String(length=64), nullable=True),
    sa.Column('agreement_status', sa.String(length=12), nullable=False),
    sa.Column('agreement_signed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('agreement_no', name=op.f('uq_accounts_agreement_no')),
    sa.UniqueConstraint('phone', name=op.f('uq_accounts_phone'))
    )
    op.create_table('verification_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_codes'))
    )
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.create_index('ix_verification_codes_phone_created', ['phone', 'created_at'], unique=False)

    op.create_table('plate_bindings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('color', sa.String(length=8), nullable=True),
    sa.Column('bound_at', UTCDateTime(), nullable=False),
    sa.Column('unbound_at', UTCDateTime(), nullable=True),
    sa.Column('unbound_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_plate_bindings_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plate_bindings'))
    )
    with op.batch_alter_table('plate_bindings', schema=None) as batch_op:
        batch_op.create_index('ix_plate_bindings_account', ['account_id', 'unbound_at'], unique=False)
        batch_op.create_index('uq_plate_bindings_active_plate', ['plate'], unique=True, postgresql_where=sa.text('unbound_at IS NULL'), sqlite_where=sa.text('unbound_at IS NULL'))

    op.create_table('plate_disputes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('color', sa.String(length=8), nullable=True),
    sa.Column('claimant_account_id', sa.String(length=32), nullable=False),
    sa.Column('holder_account_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['claimant_account_id'], ['accounts.id'], name=op.f('fk_plate_disputes_claimant_account_id_accounts')),
    sa.ForeignKeyConstraint(['holder_account_id'], ['accounts.id'], name=op.f('fk_plate_disputes_holder_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plate_disputes'))
    )
    with op.batch_alter_table('plate_disputes', schema=None) as batch_op:
        batch_op.create_index('ix_plate_disputes_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('uq_plate_disputes_open_claim', ['plate', 'claimant_account_id'], unique=True, postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))



def downgrade() -> None:
    with op.batch_alter_table('plate_disputes', schema=None) as batch_op:
        batch_op.drop_index('uq_plate_disputes_open_claim', postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_plate_disputes_status_created')

    op.drop_table('plate_disputes')
    with op.batch_alter_table('plate_bindings', schema=None) as batch_op:
        batch_op.drop_index('uq_plate_bindings_active_plate', postgresql_where=sa.text('unbound_at IS NULL'), sqlite_where=sa.text('unbound_at IS NULL'))
        batch_op.drop_index('ix_plate_bindings_account')

    op.drop_table('plate_bindings')
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_codes_phone_created')

    op.drop_table('verification_codes')
    op.drop_table('accounts')
