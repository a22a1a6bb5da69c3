"""Migrations bring an empty SQLite file and an empty PostgreSQL database to head."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.errors import StoreError
from store.engine import make_engine
from store.migrate import current_revision, head_revision, upgrade
from store.schema import metadata
from tests.conftest import scratch_pg_database


def _assert_schema_matches_metadata(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    expected = {t.name for t in metadata.sorted_tables}
    assert expected <= tables, f"missing tables: {sorted(expected - tables)}"
    assert current_revision(engine) == head_revision()


def test_upgrade_empty_sqlite_to_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'new.db'}")
    upgrade(engine)
    _assert_schema_matches_metadata(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head_revision()


@pytest.mark.postgres
def test_upgrade_empty_postgresql_to_head(pg_database_url: str) -> None:
    with scratch_pg_database("chargeline_mig") as url:
        engine = make_engine(url)
        upgrade(engine)
        _assert_schema_matches_metadata(engine)
        engine.dispose()


def test_unreachable_postgresql_gives_store_error() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match=r"cannot|failed"):
        upgrade(engine)


def test_unsupported_driver_is_refused() -> None:
    with pytest.raises(StoreError, match="not supported"):
        make_engine("mysql://root@127.0.0.1/test")
