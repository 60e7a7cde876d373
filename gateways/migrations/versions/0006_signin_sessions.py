"""sign-in sessions: refresh tokens (hashed, rotated) and revocation of drivers' tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signin_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('refresh_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('refreshed_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_signin_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_sessions')),
    sa.UniqueConstraint('refresh_hash', name=op.f('uq_signin_sessions_refresh_hash'))
    )
    with op.batch_alter_table('signin_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_signin_sessions_account', ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signin_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_sessions_account')
    op.drop_table('signin_sessions')
