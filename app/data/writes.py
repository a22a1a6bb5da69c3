"""Writes from the dashboard: short transactions that wait for the collector, never fail.

The dashboard's shared engine begins SQLite transactions DEFERRED so its reads run beside
the collector's writes. A transaction that reads and then writes on it is upgraded from a
read snapshot to a write mid-way; when the collector committed in between, SQLite answers
``database is locked`` (SQLITE_BUSY_SNAPSHOT) at once, whatever the busy timeout. So every
write here runs on the same pool with ``BEGIN IMMEDIATE``: the write lock is taken first,
waited for (busy timeout) while the collector holds it, and the reads inside see the
newest data. A lock still held after the busy timeout (or a PostgreSQL serialisation
failure) is retried a few times, then reported in words — never as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from core.errors import StoreError

T = TypeVar("T")
ATTEMPTS = 4
BACKOFF_SECONDS = 0.2
_TRANSIENT = ("database is locked", "database table is locked", "could not serialize",
              "deadlock detected")


def writer(engine: Engine) -> Engine:
    """``engine`` (the dashboard's) with SQLite transactions that take the write lock first."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def transient(exc: OperationalError) -> bool:
    """Whether ``exc`` is another writer holding the store (worth waiting for)."""
    return any(word in str(exc.orig or exc).lower() for word in _TRANSIENT)


def retrying(action: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """``action()``, retried while another writer holds the store; a ``StoreError`` that
    says what to do when it never lets go."""
    for attempt in range(attempts):
        try:
            return action()
        except OperationalError as exc:
            if not transient(exc):
                raise
            if attempt == attempts - 1:
                raise StoreError("the store stayed busy (another process kept writing to "
                                 "it); nothing was saved — try again in a minute, and check "
                                 "that only one collector writes to a SQLite store") from None
            time.sleep(BACKOFF_SECONDS * (attempt + 1))
    raise AssertionError("unreachable")


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one write transaction on ``engine`` (see the module docstring)."""
    def once() -> T:
        with writer(engine).begin() as conn:
            return work(conn)
    return retrying(once)
