"""Migration 0011 builds `account_deletions` exactly as the model describes, on SQLite and PostgreSQL, and its
downgrade removes it (and up again)."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gateways.schema import alembic_config, import_all_models, upgrade
from parking_core.models import Base
from tests.operators.test_migration import engine  # noqa: F401 - the same fixture: SQLite and PostgreSQL


def test_0011_matches_the_model_and_downgrades_cleanly(engine):
    upgrade(engine, "0011")
    import_all_models()
    with engine.connect() as c:
        diff = [d for d in compare_metadata(MigrationContext.configure(c), Base.metadata) if "account_deletions" in repr(d)]
    assert diff == []
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    assert "account_deletions" not in inspect(engine).get_table_names()
    upgrade(engine, "0011")
    assert "account_deletions" in inspect(engine).get_table_names()
