"""Migrations bring an empty SQLite file and an empty PostgreSQL database to head; a store
made by a pre-release schema (before the 0.1.0 baseline) is refused with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from core.errors import StoreError
from store.engine import make_engine
from store.migrate import alembic_config, current_revision, head_revision, upgrade
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


def _stamped(engine: Engine, *revisions: str) -> Engine:
    """``engine``'s store, migrated, then claiming to be at ``revisions`` (as a store left
    by an older or a newer Chargeline would)."""
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
        for revision in revisions:
            conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    return engine


def test_a_store_at_the_baseline_upgrades_to_head(tmp_path: Path) -> None:
    # 0056 was the head of the pre-release chain: a store migrated to it is at the
    # baseline and takes the migrations after it
    engine = make_engine(f"sqlite:///{tmp_path / 'at_baseline.db'}")
    upgrade(engine, "0056")
    assert current_revision(engine) == "0056"
    upgrade(engine)
    assert current_revision(engine) == head_revision() != "0056"


def test_a_pre_release_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = _stamped(make_engine(f"sqlite:///{path}"), "0030", "0040")
    with pytest.raises(StoreError) as refused:
        upgrade(engine)
    message = str(refused.value)
    assert f"the store at sqlite:///{path} is at revision 0030, 0040" in message
    assert "made by a pre-release schema of Chargeline" in message
    assert "delete the SQLite file, or drop and create the database" in message
    assert "then run `chargeline db upgrade`" in message
    assert current_revision(engine) == "0030,0040"  # refused, not half-migrated


def test_a_store_from_a_newer_chargeline_is_refused(tmp_path: Path) -> None:
    engine = _stamped(make_engine(f"sqlite:///{tmp_path / 'new.db'}"), "0099")
    with pytest.raises(StoreError, match=r"revision 0099, which this version of Chargeline "
                                         r"does not know .* migrated by a newer Chargeline"):
        upgrade(engine)


def test_the_baseline_downgrades_to_an_empty_store(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    _assert_schema_matches_metadata(engine)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_charge_lag_points_migration_makes_the_next_pass_full(
        backend: str, tmp_path: Path) -> None:
    """0059 adds the charge-lag sums to the usage points; points of earlier passes lack
    them, so it forgets the metrics watermark and the next pass rebuilds every point."""
    def check(engine: Engine) -> None:
        upgrade(engine, "0058")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO metric_state (name, value, updated_at) VALUES "
                              "('ingested_watermark', '2026-11-20T00:00:00+00:00', "
                              "'2026-11-20 00:00:00'), ('api_call_watermark', '7', "
                              "'2026-11-20 00:00:00')"))
        upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("metric_usage_points")}
        assert {"charged", "charge_s_sum"} <= columns
        with engine.connect() as conn:
            names = set(conn.execute(text("SELECT name FROM metric_state")).scalars())
        assert names == {"api_call_watermark"}  # only the metrics watermark is forgotten

    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'at_0058.db'}")
        check(engine)
        engine.dispose()
        return
    with scratch_pg_database("chargeline_mig_0059") as url:
        engine = make_engine(url)
        check(engine)
        engine.dispose()
