"""On PostgreSQL every text column of the store, and of a metrics pass's scratch tables,
compares byte by byte (collation "C", the baseline migration): one collation, so each join of a
scratch table with the store can use the store's indexes, and no strcoll per comparison."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from metrics.compute.pass_tables import pass_tables
from store.engine import make_engine

pytestmark = pytest.mark.postgres

TEXT_COLUMNS = text("""
    SELECT c.table_name, c.column_name, coalesce(c.collation_name, 'default')
    FROM information_schema.columns c
    JOIN pg_class k ON k.relname = c.table_name
    WHERE c.table_schema = current_schema() AND k.relkind = 'r'
      AND c.table_name LIKE :tables AND c.table_name <> 'alembic_version'
      AND c.data_type IN ('character varying', 'text')
""")


def _collations(conn, tables: str) -> dict[str, str]:
    return {f"{t}.{c}": coll for t, c, coll in conn.execute(TEXT_COLUMNS, {"tables": tables})}


def test_every_store_text_column_is_byte_ordered(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)
    with engine.connect() as conn:
        columns = _collations(conn, "%")
    engine.dispose()
    assert len(columns) > 100  # every package's tables, not an empty schema
    other = {name: coll for name, coll in columns.items() if coll != "C"}
    assert not other, (
        f"text columns without COLLATE \"C\": {sorted(other)}; a migration that adds one "
        "declares it sa.String(n).with_variant(sa.String(n, collation='C'), 'postgresql')")


def test_pass_tables_take_the_store_collation(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)
    with engine.begin() as conn, pass_tables(conn):
        columns = _collations(conn, "metric_pass_%")
    engine.dispose()
    assert {"metric_pass_usages.usage_id", "metric_pass_dirty_encounters.encounter_id",
            "metric_pass_live_charges.serial"} <= set(columns)
    assert set(columns.values()) == {"C"}
