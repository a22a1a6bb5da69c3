"""Alembic environment. Batch mode, so ALTERs work on SQLite too; the naming
convention lives on ``store.schema.metadata`` so constraint names match on both backends."""

from __future__ import annotations

from alembic import context

import store.schema_all  # noqa: F401  - registers every table on the metadata
from store.engine import make_engine
from store.schema import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command line: no connection handed in
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
