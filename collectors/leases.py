"""Who may poll a source now: leases in ``source_leases`` (PostgreSQL) and a lock file
(SQLite).

On PostgreSQL several collector processes share the sources. A pass first claims the
source's lease for its schedule slot with one atomic statement: INSERT ... ON CONFLICT
DO UPDATE ... WHERE the lease expired or is already ours, AND the slot is newer than the
last one claimed. So each slot is polled by exactly one process, a live holder keeps the
source (it renews the lease at each page), and a dead holder's lease simply expires.
The slot stays recorded after release (``acquired_at``), so a second process firing a
moment later for the same slot finds it taken.

SQLite allows one writer and has no server to hold leases for machines, so one collector
process is enforced with an exclusive lock file next to the database.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, and_, or_, update
from sqlalchemy.engine import make_url

from chargeline.errors import ConfigError
from store.schema import source_leases
from store.upsert import dialect_insert


def default_holder() -> str:
    """A holder id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def acquire(engine: Engine, source: str, holder: str, slot: datetime, ttl_seconds: int,
            now: datetime | None = None) -> bool:
    """Claim ``source`` for ``slot``; False when another live holder has it or the slot
    was already polled."""
    now = now or datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_seconds)
    with engine.begin() as conn:
        stmt = dialect_insert(conn, source_leases).values(
            source=source, holder=holder, expires_at=expires, acquired_at=slot)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source"],
            set_={"holder": holder, "expires_at": expires, "acquired_at": slot},
            where=and_(
                or_(source_leases.c.expires_at < now, source_leases.c.holder == holder),
                source_leases.c.acquired_at < slot,
            ),
        )
        return conn.execute(stmt.returning(source_leases.c.source)).first() is not None


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

    def acquire(self) -> None:
        """Take the lock or raise ``ConfigError`` saying who holds it and what to do."""
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

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
