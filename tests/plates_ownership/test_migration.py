"""Migration 0010 matches the models on SQLite and PostgreSQL, keeps bindings made before it verified (deployments
keep charging who they charged), and its downgrade removes what it added."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from gateways.schema import alembic_config, import_all_models, upgrade
from parking_core.models import Base
from tests.operators.test_migration import engine  # noqa: F401  (a fresh SQLite file and PostgreSQL database)


def _downgrade(engine, to: str) -> None:  # noqa: ANN001, F811
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, to)


def test_0010_keeps_old_bindings_verified_matches_the_models_and_downgrades(engine):  # noqa: F811
    upgrade(engine, "0009")
    with engine.begin() as c:
        c.execute(text("INSERT INTO accounts (id, phone, created_at, agreement_status) VALUES ('a1', '13900000000', "
                       "CURRENT_TIMESTAMP, 'active')"))
        c.execute(text("INSERT INTO plate_bindings (id, account_id, plate, bound_at) VALUES ('b1', 'a1', '苏E1', CURRENT_TIMESTAMP)"))
    upgrade(engine, "0010")
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM plate_bindings")).scalar_one() == "verified"
    import_all_models()
    with engine.connect() as c:
        diff = [d for d in compare_metadata(MigrationContext.configure(c), Base.metadata)
                if "plate_bindings" in repr(d) or "plate_evidence" in repr(d)]
    assert diff == []
    _downgrade(engine, "0009")
    assert "plate_evidence" not in inspect(engine).get_table_names()
    assert "status" not in {c["name"] for c in inspect(engine).get_columns("plate_bindings")}
    upgrade(engine, "0010")
    assert "plate_evidence" in inspect(engine).get_table_names()
