"""privacy: retention of plates by keyed hash, account deletion

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:55:00.000000
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
from parking_core.models import UTCDateTime  # noqa: F401

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the change that adds these columns and tables


def downgrade() -> None:
    pass
