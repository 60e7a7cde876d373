"""Migration 0008 creates exactly what the joining tables declare, on SQLite and PostgreSQL, and downgrades cleanly."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

MINE = {"lot_commissioning", "registered_devices", "device_credentials"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    from parking_core.db import make_engine

    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    e = make_engine(url)
    yield e
    e.dispose()


def test_0008_matches_the_models_and_downgrades(engine):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateways.schema import alembic_config, import_all_models, upgrade
    from parking_core.models import Base

    upgrade(engine)
    assert MINE <= set(inspect(engine).get_table_names())
    import_all_models()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert [d for d in diff if _table(d) in MINE] == []
    active = {ix["name"]: ix for ix in inspect(engine).get_indexes("device_credentials")}["uq_device_credentials_active"]
    assert active["unique"]
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert not MINE & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert MINE <= set(inspect(engine).get_table_names())


def _table(d) -> str | None:
    """The table a compare_metadata entry is about."""
    if isinstance(d, list):  # modify_* entries: (op, schema, table, column, ...)
        return d[0][2]
    if d[0] in ("add_column", "remove_column"):
        return d[2]
    obj = d[1]
    return getattr(getattr(obj, "table", None), "name", None) or getattr(obj, "name", None)
