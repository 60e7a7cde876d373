"""plate ownership: bindings unverified until proven, verification evidence and decisions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:55:00.000000
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
from parking_core.models import UTCDateTime  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the change that adds these columns and tables


def downgrade() -> None:
    pass
