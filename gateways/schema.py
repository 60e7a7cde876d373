"""The database schema as the composition root sees it: every package's tables, the shipped
Alembic migrations (gateways/migrations), upgrading and the version check.

Each package owns its tables (parking_core.models, billing.models, ...); only here are they
gathered, so the domain never imports billing to build the schema.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from sqlalchemy.engine import Engine

from parking_core.errors import DependencyUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
MODEL_MODULES = (
    "parking_core.models",
    "parking_core.session_models",
    "parking_core.account_models",
    "billing.models",
    "billing.tariff_versions",
    "billing.reconciliation_models",
    "parking_core.commissioning_models",
    "parking_core.principal_models", "parking_core.audit", "billing.refund_approvals",
    "parking_core.accounts.deletion",
)


def import_all_models() -> None:
    """Import every module that defines tables, so the metadata (and Alembic) sees them all."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


def alembic_config(engine_url: str):
    """An Alembic config pointing at the shipped migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine_url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on this engine."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, the code's head revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # the server itself is down
        raise DependencyUnavailable(f"database unreachable: {exc.__class__.__name__}: {exc}", field="DATABASE_URL") from exc
    return current, head
