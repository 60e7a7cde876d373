"""operators, districts and the city as principals: users, API keys, roles; the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:45:00.000000
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
from parking_core.models import UTCDateTime  # noqa: F401

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the change that adds these tables


def downgrade() -> None:
    pass
