"""Migration 0007 builds exactly the tables the models describe (users, keys, console sessions, the audit log with
its append-only triggers, refund approvals, tariff owners), on SQLite and PostgreSQL, and its downgrade removes them."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from gateways.schema import import_all_models, upgrade
from parking_core.models import Base

MINE = {"operator_users", "operator_api_keys", "operator_console_sessions", "operator_audit", "refund_approvals",
        "tariff_owners"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    e = create_engine(url)
    yield e
    e.dispose()


def test_0007_matches_the_models_and_downgrades_cleanly(engine):
    upgrade(engine, "0007")
    import_all_models()
    with engine.connect() as c:
        diff = [d for d in compare_metadata(MigrationContext.configure(c), Base.metadata)
                if any(t in repr(d) for t in MINE)]
    assert diff == []
    assert MINE <= set(inspect(engine).get_table_names())
    with engine.begin() as c:
        c.execute(text("INSERT INTO operator_audit (at, actor_id, actor_kind, actor_org, actor_name, action, subject) "
                       "VALUES (CURRENT_TIMESTAMP, 'k', 'city', 'city', 'k', 'x', 'y')"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as c:
        c.execute(text("DELETE FROM operator_audit"))

    from alembic import command

    from gateways.schema import alembic_config

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert not MINE & set(inspect(engine).get_table_names())
    upgrade(engine, "0007")  # and up again: nothing of the downgrade was left behind (the trigger function included)
    assert MINE <= set(inspect(engine).get_table_names())
