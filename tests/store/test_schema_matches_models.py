"""The models and the migrations describe one schema: a store freshly migrated to head has
every table, column (name, type, nullability, server default, primary key), index (name,
columns, uniqueness, partial WHERE), unique constraint and foreign key of the models, and
nothing else; on SQLite and on PostgreSQL.

Alembic's ``compare_metadata`` (what ``alembic revision --autogenerate`` runs) finds the
tables, columns, types, nullability, indexes, unique constraints and foreign keys that
differ; primary keys, server defaults and partial-index predicates are compared here, after
normalising how each backend reflects them. A difference means a model changed without a
migration (write one) or a migration without its model (fix the model)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Index, inspect

import store.schema_all  # noqa: F401  - registers every table on the metadata
from store.engine import make_engine
from store.migrate import upgrade
from store.schema import metadata
from tests.conftest import scratch_pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store freshly migrated to head (its own database: nothing else has touched it)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with scratch_pg_database("chargeline_schema") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def _describe(diff: Any) -> str:
    """One of ``compare_metadata``'s differences as a sentence."""
    if isinstance(diff, list):  # column modifications come grouped per column
        return "; ".join(_describe(d) for d in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        where = "models only" if kind == "add_table" else "migrations only"
        return f"table {diff[1].name}: {where}"
    if kind in ("add_column", "remove_column"):
        where = "models only" if kind == "add_column" else "migrations only"
        return f"column {diff[2]}.{diff[3].name}: {where}"
    if kind in ("add_index", "remove_index"):
        where = "models only" if kind == "add_index" else "migrations only"
        index = diff[1]
        return (f"index {index.name} on {index.table.name}{[c.name for c in index.columns]}"
                f" unique={bool(index.unique)}: {where}")
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        where = "models only" if kind.startswith("add") else "migrations only"
        constraint = diff[1]
        columns = [c.name for c in constraint.columns]
        return f"{type(constraint).__name__} {constraint.name} on {columns}: {where}"
    if kind.startswith("modify_"):
        _, _, table, column, _, migrated_value, model_value = diff
        what = kind.removeprefix("modify_")
        return f"{table}.{column} {what}: migrations {migrated_value!r}, models {model_value!r}"
    return repr(diff)


def _sql(text: str) -> str:
    """A default or a WHERE clause as both backends would agree on it: no casts
    (PostgreSQL's ``::text``), no parentheses, one spelling of not-equal, false/true as 0/1."""
    text = re.sub(r"::(character varying|double precision|[a-z]+)", "", str(text).lower())
    text = text.replace("(", "").replace(")", "").replace("!=", "<>")
    text = {"false": "'0'", "true": "'1'"}.get(text.strip(), text)
    return " ".join(text.split())


def _default(text: str) -> str:
    """A server default, quoted or not (SQLite reflects ``''``, the models say ``""``)."""
    return _sql(text).strip("'")


def _where(index: Index | dict[str, Any], dialect: str) -> str:
    options = index.get("dialect_options", {}) if isinstance(index, dict) else index.dialect_kwargs
    where = options.get(f"{dialect}_where")
    return "" if where is None else _sql(getattr(where, "text", where))


def _details_differing(engine: Engine) -> list[str]:
    """Primary keys, server defaults and partial-index predicates that differ."""
    dialect = engine.dialect.name
    inspector = inspect(engine)
    differences = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # compare_metadata reports the missing table
        pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if pk != [c.name for c in table.primary_key.columns]:
            differences.append(f"{table.name} primary key: migrations {pk}, "
                               f"models {[c.name for c in table.primary_key.columns]}")
        reflected = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in reflected:
                continue
            default = reflected[column.name]["default"]
            if column.primary_key and column.autoincrement is True:
                continue  # PostgreSQL's serial default (nextval) is not the models' to say
            migrated = "" if default is None else _default(default)
            model = ("" if column.server_default is None
                     else _default(getattr(column.server_default.arg, "text",
                                           column.server_default.arg)))
            if (default is None) != (column.server_default is None) or migrated != model:
                differences.append(f"{table.name}.{column.name} server default: "
                                   f"migrations {default!r}, models {model!r}")
        indexes = {ix["name"]: ix for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in indexes and _where(indexes[index.name], dialect) != _where(
                    index, dialect):
                differences.append(f"index {index.name} WHERE: migrations "
                                   f"{_where(indexes[index.name], dialect)!r}, models "
                                   f"{_where(index, dialect)!r}")
    return differences


def test_a_migrated_store_has_the_models_schema(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = [_describe(d) for d in compare_metadata(context, metadata)]
    differences += _details_differing(migrated)
    assert not differences, (
        f"the models and the migrations differ on {migrated.dialect.name}:\n  "
        + "\n  ".join(differences)
        + "\nwrite a migration for a model change, or fix the model a migration changed")


def test_the_comparison_sees_a_difference(migrated: Engine) -> None:
    """The test above would fail if the schema differed (it is not comparing nothing)."""
    table = metadata.tables["charges"]
    index = Index("ix_charges_only_in_this_test", table.c.lot)
    try:
        with migrated.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            found = [_describe(d) for d in compare_metadata(context, metadata)]
    finally:
        table.indexes.discard(index)
    assert found == ["index ix_charges_only_in_this_test on charges['lot'] unique=False: "
                     "models only"]
