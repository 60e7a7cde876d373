"""Alembic environment: runs on the connection handed in by parking_core.db, or the URL."""
from alembic import context
from sqlalchemy import create_engine

from gateways.schema import import_all_models
from parking_core.models import Base

import_all_models()

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):  # noqa: ANN001
    """Render our UTC datetime type as `UTCDateTime()` in generated migrations."""
    from parking_core.models import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from parking_core.models import UTCDateTime")
        return "UTCDateTime()"
    return False


OPTIONS = dict(target_metadata=target_metadata, render_as_batch=True, render_item=render_item)


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()


run()
