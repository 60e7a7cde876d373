"""privacy: retention of plates by keyed hash, account deletion

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:55:00.000000
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from parking_core.models import UTCDateTime  # noqa: F401

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per deleted account: when, under its anonymous id (its money records keep that id)
    op.create_table(
        "account_deletions",
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", name="fk_account_deletions_account_id_accounts"),
                  nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.Column("agreement_unsigned", sa.Boolean(), nullable=False),
        sa.Column("bindings_removed", sa.Integer(), nullable=False),
        sa.Column("sessions_removed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_deletions"),
    )


def downgrade() -> None:
    op.drop_table("account_deletions")
