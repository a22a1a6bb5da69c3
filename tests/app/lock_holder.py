"""A stand-in for the collector's write load on a SQLite store: another process that keeps
taking the write lock (``BEGIN IMMEDIATE``), holds it for a while, commits, and at once
takes it again — what a collector's tick does to the dashboard's sign-in and actions.

``python -m tests.app.lock_holder sqlite:///path.db HOLD_S GAP_S`` runs until killed;
``holding_writes(url)`` runs it around a block and says how many commits it made.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parents[2]


def hold(path: str, hold_s: float, gap_s: float, ticks: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS lock_holder_ticks (n INTEGER)")
    n = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO lock_holder_ticks VALUES (?)", (n,))
        time.sleep(hold_s)
        conn.execute("COMMIT")
        n += 1
        ticks.write_text(str(n))
        time.sleep(gap_s)


@contextmanager
def holding_writes(url: str, hold_s: float = 0.15, gap_s: float = 0.005) -> Iterator[Path]:
    """Run the writer process on the SQLite store at ``url`` while the block runs; yield
    the file holding its commit count (waits for its first commit before yielding)."""
    path = make_url(url).database or ""
    ticks = Path(path).with_suffix(".ticks")
    ticks.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "tests.app.lock_holder", path,
                             str(hold_s), str(gap_s), str(ticks)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not ticks.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ticks.exists(), "the writer process never committed"
        yield ticks
        assert proc.poll() is None, "the writer process died while the test ran"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    hold(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
