"""How a compute pass talks to each database: session settings, statistics, bulk fills,
and the clock that times each stage.

The statements are the same on SQLite and PostgreSQL; only these few settings differ.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, Table, text

from store.schema_metrics import metric_charge_facts, metric_usage_facts

PG_WORK_MEM = "128MB"
PG_MAINTENANCE_WORK_MEM = "256MB"  # index builds of a full pass
# The pass's page cache: the process's own memory, and SQLite sizes a sort's in-memory
# runs by it too (an index build of a full pass holds both). At 1M usages, with the scratch
# tables in a temporary file (``store.engine``), 128 MB held the pass's own peak at 324 MB
# (256 MB: 457 MB; 64 MB: 201 MB, its one full pass 14 % slower), the full pass as fast.
SQLITE_CACHE_KIB = 128 * 1024
SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default


class StageClock:
    """Seconds spent per named stage of one pass (a repeated name adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def tune(conn: Connection) -> None:
    """PostgreSQL: no JIT (compiling these one-off statements costs more than it saves)
    and room for the per-usage hash aggregates, for this transaction only. SQLite: a page
    cache bounded to ``SQLITE_CACHE_KIB`` (undone by ``untune``, the connection goes back
    to the pool); its scratch tables spill to a temporary file (``store.engine``)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_MAINTENANCE_WORK_MEM}'")
        # The store's working set is cached: an index probe costs little more than a
        # sequential page, so scoped passes use the encounter indexes, not full scans.
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        # No checkpoint inside the pass's commit: copying the pages the pass wrote from
        # the WAL into the database file (and syncing it) would double the commit of an
        # incremental pass. The caller checkpoints after it (``store.engine``).
        conn.info["wal_autocheckpoint"] = conn.exec_driver_sql(
            "PRAGMA wal_autocheckpoint").scalar()
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        # Debian builds SQLite with secure_delete on: every page a refill frees would be
        # zeroed and written (2 s per fact table at 1M usages). The derived tables hold
        # tokens, never PHI in clear; FAST still zeroes what costs no extra I/O.
        conn.info["secure_delete"] = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
        conn.exec_driver_sql("PRAGMA secure_delete = FAST")


def untune(conn: Connection) -> None:
    """Give the pooled connection its defaults back (SQLite): page cache, automatic
    checkpoints as they were. Called after the pass's commit."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -2000")
        pages = int(conn.info.pop("wal_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES))
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {pages}")
        secure = int(conn.info.pop("secure_delete", 1))
        conn.exec_driver_sql(f"PRAGMA secure_delete = {secure}")


def analyze(conn: Connection, *tables: Table) -> None:
    """PostgreSQL: fresh statistics for tables just rebuilt, so the next joins are planned
    on their real size (autovacuum would come too late, and never sees temporary tables).
    A table whose ``info["analyze_columns"]`` names the columns later statements join or
    filter on gets statistics for those alone (the row count comes with any ANALYZE)."""
    if conn.dialect.name == "postgresql":
        for table in tables:
            columns = table.info.get("analyze_columns")
            listed = f" ({', '.join(columns)})" if columns else ""
            conn.exec_driver_sql(f"ANALYZE {table.name}{listed}")


def analyze_scratch(conn: Connection, table: Table) -> None:
    """Statistics for a small scratch table of an incremental pass, on both databases.
    SQLite plans a table without statistics as about a million rows: a join of a few
    hundred scratch rows to a store table then scans the store table in the order a
    later window or sort wants, a cost that grows with the store instead of the pass."""
    conn.exec_driver_sql(f"ANALYZE {table.name}")


def secondary_indexes(conn: Connection, table: Table) -> dict[str, str]:
    """Name -> ``CREATE INDEX`` statement of every index on ``table`` in the database
    that no constraint owns: also those other packages' migrations added (the dashboard's
    drill-down index), which the ``Table`` object here does not know."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL"), {"t": table.name})
    else:
        rows = conn.execute(text(
            "SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"),
            {"t": table.name})
    return dict(rows.all())


# The fact tables a full pass empties and refills in bulk (``bulk``).
REFILLED = (metric_usage_facts, metric_charge_facts)


def vacuum_refilled(engine: Engine) -> None:
    """PostgreSQL, once a full pass has committed: VACUUM the fact tables it refilled.

    Freshly written pages are not marked all-visible until a VACUUM, so until then every
    index-only scan of the next passes visits the table too (the exception queue's regroup
    of failed mappings: thousands of heap pages per pass). Autovacuum would get there
    within a minute where it is on; this does not depend on it. Outside any transaction,
    as VACUUM requires; a no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM {', '.join(t.name for t in REFILLED)}")


@contextmanager
def bulk(conn: Connection, table: Table) -> Iterator[None]:
    """Empty ``table`` and fill it without its secondary indexes, then build them: a sort
    per index instead of a million random index inserts (full passes only)."""
    indexes = secondary_indexes(conn, table)
    for name in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"TRUNCATE {table.name}")  # no dead rows left behind
    else:
        conn.execute(table.delete())
    yield
    for ddl in indexes.values():
        conn.exec_driver_sql(ddl)
    analyze(conn, table)
