"""A PostgreSQL database of the benchmark's own, on the server of ``--pg-url``.

Every benchmark that runs on PostgreSQL works in a scratch database it creates on the
server ``--pg-url`` names (default ``CHARGELINE_BENCH_PG_URL``, else the local server's
``test`` database, only used to reach the server): ``chargeline_bench_<purpose>_<pid>``.
It says which database it used, and drops it at the end: after an error, on Ctrl+C
(``KeyboardInterrupt``) and on SIGTERM too (turned into ``SystemExit`` while the database
exists). Only SIGKILL leaves one behind; ``leftovers`` names those whose process is gone.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

SERVER_URL = os.environ.get("CHARGELINE_BENCH_PG_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PREFIX = "chargeline_bench_"
_NAME = re.compile(r"^chargeline_bench_(?:[a-z0-9]+_)?(\d+)(?:_\d+)?$")
_SEQ = itertools.count()


def scratch_name(purpose: str, pid: int | None = None) -> str:
    """``chargeline_bench_<purpose>_<pid>`` (``_<n>`` after the second one of a process)."""
    clean = re.sub(r"[^a-z0-9]", "", purpose.lower()) or "run"
    n = next(_SEQ)
    return f"{PREFIX}{clean}_{pid or os.getpid()}" + (f"_{n}" if n else "")


def where(url: str) -> str:
    """``host:port`` of a database URL, for the messages (never the password)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def create_database(server_url: str, name: str) -> str:
    """Create ``name`` on the server of ``server_url`` (dropped first if it exists);
    return its URL."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin.dispose()


def drop_database(server_url: str, name: str) -> None:
    """Drop ``name`` on the server of ``server_url``, ending its sessions."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def leftovers(server_url: str) -> list[str]:
    """Scratch databases on the server whose benchmark process no longer runs here."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE "
                                      "'chargeline\\_bench\\_%'")).scalars().all()
    finally:
        admin.dispose()
    out = []
    for name in names:
        match = _NAME.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            out.append(name)
    return sorted(out)


def _say(line: str) -> None:
    print(line, flush=True)


def create_announced(server_url: str, name: str, *, keep: bool = False,
                     say: Any = _say) -> str:
    """``create_database``, then one line to ``say`` naming the database, its server and
    whether it is kept or dropped at the end; return its URL."""
    url = create_database(server_url, name)
    say(f"  postgresql: working in database {name} on {where(server_url)} (created now, "
        f"{'kept' if keep else 'dropped'} at the end)")
    return url


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """While inside, SIGTERM raises ``SystemExit(143)`` so ``finally`` blocks run (main
    thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextmanager
def scratch_database(server_url: str, purpose: str, *, keep: bool = False,
                     say: Any = _say) -> Iterator[str]:
    """A fresh database for one benchmark run: yields its URL, drops it at the end (also
    on an error, Ctrl+C or SIGTERM) unless ``keep``. ``say`` gets one line naming it."""
    name = scratch_name(purpose)
    with sigterm_as_exit():
        url = create_announced(server_url, name, keep=keep, say=say)
        try:
            yield url
        finally:
            if not keep:
                drop_database(server_url, name)
