"""Opening the store: SQLite (the embedded default) or PostgreSQL through psycopg 3.

SQLite gets WAL (the dashboard reads while the collector writes), a busy timeout and
foreign keys, and real transactions on Python 3.11 (the driver's legacy mode would not
BEGIN before reads). Connection failures become ``StoreError`` with what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from core.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, temp_store: str = "FILE") -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Where temporary tables and indexes live; it cannot change inside a transaction, so
    # it is set here, once per connection. A writer (the collector and its metric passes)
    # keeps them in a temporary file the OS caches. In memory, a pass's scratch tables (a
    # million rows each at 1M usages) and its sorts (an in-memory temp store never spills
    # a sort, however large: an index build sorts every row) held 530 MB more of the
    # process's own memory at 1M usages, growing with the store, and the scratch tables'
    # pages stayed with the pooled connection after the pass (an in-memory database never
    # shrinks). In a file the pass took as long. Reads (the dashboard) keep theirs in memory.
    cursor.execute(f"PRAGMA temp_store={temp_store}")
    cursor.close()


def _sqlite_read_pragmas(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record, temp_store="MEMORY")


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    # waits for the other writer (busy timeout) instead of failing with "database is
    # locked" when that writer committed in between (SQLITE_BUSY_SNAPSHOT). Read-mostly
    # engines (the dashboard) ask for DEFERRED so readers never wait on the collector.
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, read_mostly: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; raise ``StoreError`` when it cannot be used.

    ``read_mostly`` (the dashboard): SQLite transactions begin DEFERRED, so reads run
    beside the collector's writes; writers' transactions begin IMMEDIATE. PostgreSQL
    sessions of the dashboard run without JIT."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"database URL {url!r} cannot be parsed — use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_read_pragmas if read_mostly else _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine.execution_options(sqlite_begin="DEFERRED") if read_mostly else engine
    if parsed.drivername != "postgresql+psycopg":
        raise StoreError(
            f"database driver {parsed.drivername!r} is not supported — "
            "use sqlite:/// or postgresql+psycopg://"
        )
    kwargs.setdefault("pool_pre_ping", True)
    # The dashboard's reads without JIT: its statements run for milliseconds, and the cost
    # PostgreSQL estimates for a correlated subquery per row (the revenue-cycle reads) is
    # past jit_above_cost, so each one compiled for 0.02-0.26 s before running in 0.05 s.
    # The metric passes turn it off per transaction (metrics.compute.dbtune.tune).
    kwargs.setdefault("connect_args", {"connect_timeout": 10,
                                       **({"options": "-c jit=off"} if read_mostly else {})})
    return create_engine(parsed, **kwargs)


def check_connection(engine: Engine) -> None:
    """Open one connection, or raise ``StoreError`` naming the server and the fix."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        safe_url = engine.url.render_as_string(hide_password=True)
        raise StoreError(
            f"cannot open the store at {safe_url}: {reason} — check that the server is "
            "running and CHARGELINE_DATABASE_URL is right"
        ) from None


def checkpoint_wal(engine: Engine, mode: str = "TRUNCATE") -> None:
    """SQLite: fold the write-ahead log into the database file. ``TRUNCATE`` (the file
    alone is then a complete copy) waits for readers; ``PASSIVE`` copies what it can
    without waiting, for routine upkeep. Runs outside any transaction, as SQLite
    requires; no-op elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown WAL checkpoint mode {mode!r}")
    raw = engine.raw_connection()
    try:
        raw.cursor().execute(f"PRAGMA wal_checkpoint({mode})")
    finally:
        raw.close()
