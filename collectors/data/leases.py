"""Who may poll a source now: leases and slots in the store (PostgreSQL), and a lock
file (SQLite).

On PostgreSQL several collector processes share the sources. Every process's scheduler
fires the same slots (interval schedules are aligned on the epoch); a pass first claims
its (source, slot) in one transaction:

- a row in ``collector_slots`` (primary key source + slot): a second process firing the
  same slot a moment later finds it taken, so each slot is polled once;
- the source's lease in ``source_leases`` (INSERT ... ON CONFLICT DO UPDATE ... WHERE
  the lease expired or is already ours): while a pass runs nobody else polls the source,
  even for a later slot. The holder renews it with each page it commits, so a dead
  holder's lease simply expires (``lease_seconds``) and the next slot goes to a live one.

If either claim fails the transaction rolls back and the pass is skipped.

SQLite allows one writer and has no server to hold leases for machines, so one collector
process is enforced with an exclusive lock file next to the database; its holder takes
over what a dead collector left (leases, running runs) at once (``collectors.data.recovery``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, delete, or_, update
from sqlalchemy.engine import make_url

from collectors.data.recovery import take_over
from core.errors import ConfigError
from store.schema import source_leases
from store.schema_collectors import collector_slots
from store.upsert import dialect_insert

SLOT_HISTORY_DAYS = 7


def default_holder() -> str:
    """A holder id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def acquire(engine: Engine, source: str, holder: str, slot: datetime, ttl_seconds: int,
            now: datetime | None = None, run_id: str = "") -> bool:
    """Claim ``source`` for ``slot``; False when the slot was already claimed or another
    live holder has the source."""
    now = now or datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_seconds)
    try:
        with engine.begin() as conn:
            return _claim(conn, source, holder, slot, now, expires, run_id)
    except _Busy:  # the transaction rolled back: the slot stays free, nothing recorded
        return False


class _Busy(Exception):
    pass


def _claim(conn: Connection, source: str, holder: str, slot: datetime, now: datetime,
           expires: datetime, run_id: str) -> bool:
    """Both claims in the caller's transaction; raises ``_Busy`` to roll the slot back."""
    claimed = conn.execute(
        dialect_insert(conn, collector_slots)
        .values(source=source, slot=slot, holder=holder, run_id=run_id, claimed_at=now)
        .on_conflict_do_nothing()
        .returning(collector_slots.c.source)).first()
    if claimed is None:
        return False
    stmt = dialect_insert(conn, source_leases).values(
        source=source, holder=holder, expires_at=expires, acquired_at=slot)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={"holder": holder, "expires_at": expires, "acquired_at": slot},
        where=or_(source_leases.c.expires_at < now, source_leases.c.holder == holder),
    )
    if conn.execute(stmt.returning(source_leases.c.source)).first() is None:
        raise _Busy
    conn.execute(delete(collector_slots).where(
        collector_slots.c.source == source,
        collector_slots.c.slot < slot - timedelta(days=SLOT_HISTORY_DAYS)))
    return True


def renew(conn: Connection, source: str, holder: str, ttl_seconds: int) -> bool:
    """Extend our lease inside the caller's (page) transaction; False when it was lost
    (expired and taken by another collector)."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    result = conn.execute(update(source_leases)
                          .where(source_leases.c.source == source,
                                 source_leases.c.holder == holder)
                          .values(expires_at=expires))
    return (result.rowcount or 0) == 1


def release(engine: Engine, source: str, holder: str) -> None:
    """End our lease now, keeping the slot recorded as polled."""
    with engine.begin() as conn:
        conn.execute(update(source_leases)
                     .where(source_leases.c.source == source, source_leases.c.holder == holder)
                     .values(expires_at=datetime.now(UTC)))


class SingleCollectorLock:
    """An exclusive ``flock`` on ``<database>.collector.lock``: one collector per SQLite
    store. Released by the OS when the process dies, so a crash never leaves it stale."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.path: Path | None = None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.path = Path(str(url.database) + ".collector.lock")
        self._handle: IO[str] | None = None

    def acquire(self, engine: Engine | None = None) -> None:
        """Take the lock or raise ``ConfigError`` saying who holds it and what to do.
        With ``engine`` (the store it guards), what a dead collector left there is taken
        over at once (``collectors.data.recovery.take_over``): holding the lock, we are the
        only collector, so its leases and running runs cannot be a live process's."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"another collector ({who}) already runs on this SQLite store "
                f"({self.path}); SQLite supports one collector — stop it, or use "
                "PostgreSQL (CHARGELINE_DATABASE_URL=postgresql+psycopg://...) to run "
                "several") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._handle = handle
        if engine is not None:
            take_over(engine)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
