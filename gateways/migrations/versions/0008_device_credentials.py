"""car parks joining the platform: commissioning, device MQTT credentials

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:45:00.000000
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
from parking_core.models import UTCDateTime  # noqa: F401

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the change that adds these tables


def downgrade() -> None:
    pass
