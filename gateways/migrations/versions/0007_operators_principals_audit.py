"""operators, districts and the city as principals: users, API keys, roles; the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:45:00.000000
"""
import sqlalchemy as sa
from alembic import op

from parking_core.models import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY_PG = """
CREATE FUNCTION operator_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'operator_audit is append-only: % refused', TG_OP; END $$;
CREATE TRIGGER operator_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON operator_audit
FOR EACH STATEMENT EXECUTE FUNCTION operator_audit_append_only();
"""
APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER operator_audit_no_update BEFORE UPDATE ON operator_audit "
    "BEGIN SELECT RAISE(ABORT, 'operator_audit is append-only: UPDATE refused'); END",
    "CREATE TRIGGER operator_audit_no_delete BEFORE DELETE ON operator_audit "
    "BEGIN SELECT RAISE(ABORT, 'operator_audit is append-only: DELETE refused'); END",
]


def upgrade() -> None:
    op.create_table('operator_users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('org_kind', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('disabled_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_users')),
    sa.UniqueConstraint('username', name=op.f('uq_operator_users_username'))
    )
    op.create_table('operator_api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('org_kind', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_operator_api_keys_key_hash'))
    )
    op.create_index('ix_operator_api_keys_org', 'operator_api_keys', ['org_kind', 'org_id'])
    op.create_table('operator_console_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['operator_users.id'], name=op.f('fk_operator_console_sessions_user_id_operator_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_console_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operator_console_sessions_token_hash'))
    )
    op.create_table('operator_audit',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.String(length=100), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_org', sa.String(length=64), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_audit'))
    )
    op.create_index('ix_operator_audit_operator', 'operator_audit', ['operator_id', 'id'])
    op.create_index('ix_operator_audit_actor_org', 'operator_audit', ['actor_org', 'id'])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG)
    else:
        for statement in APPEND_ONLY_SQLITE:
            op.execute(statement)
    op.create_table('refund_approvals',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('lot_id', sa.String(length=64), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by_id', sa.String(length=100), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('decided_by_id', sa.String(length=100), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_approvals')),
    sa.UniqueConstraint('order_id', 'request_id', name='uq_refund_approvals_order_request')
    )
    op.create_index('ix_refund_approvals_operator_status', 'refund_approvals', ['operator_id', 'status'])
    op.create_table('tariff_owners',
    sa.Column('tariff_id', sa.String(length=64), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tariff_id', name=op.f('pk_tariff_owners'))
    )


def downgrade() -> None:
    op.drop_table('tariff_owners')
    op.drop_index('ix_refund_approvals_operator_status', table_name='refund_approvals')
    op.drop_table('refund_approvals')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS operator_audit_append_only ON operator_audit")
        op.execute("DROP FUNCTION IF EXISTS operator_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS operator_audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS operator_audit_no_delete")
    op.drop_index('ix_operator_audit_actor_org', table_name='operator_audit')
    op.drop_index('ix_operator_audit_operator', table_name='operator_audit')
    op.drop_table('operator_audit')
    op.drop_table('operator_console_sessions')
    op.drop_index('ix_operator_api_keys_org', table_name='operator_api_keys')
    op.drop_table('operator_api_keys')
    op.drop_table('operator_users')
