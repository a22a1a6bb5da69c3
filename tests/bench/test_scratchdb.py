"""Every benchmark works in a PostgreSQL database of its own (``bench.scratchdb``): made on
the server of ``--pg-url``, named after the benchmark and its process, dropped at the end
even after an error, Ctrl+C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.scratchdb import create_database, drop_database, leftovers, scratch_database, where
from tests.conftest import PG_ADMIN_URL, require_pg

ROOT = Path(__file__).resolve().parents[2]


def _databases() -> set[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        admin.dispose()


def test_a_benchmark_works_in_its_own_database_and_drops_it() -> None:
    require_pg()
    said: list[str] = []
    with scratch_database(PG_ADMIN_URL, "probe", say=said.append) as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith(f"chargeline_bench_probe_{os.getpid()}")
        assert name in _databases()
        assert name != "test"
        engine = create_engine(url)
        with engine.begin() as conn:  # a session still open when it is dropped
            conn.execute(text("CREATE TABLE t (x int)"))
        assert said == [f"  postgresql: working in database {name} on "
                        f"{where(PG_ADMIN_URL)} (created now, dropped at the end)"]
    engine.dispose()
    assert name not in _databases()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_the_database_is_dropped_after_ctrl_c_or_an_error(error: type[BaseException]) -> None:
    require_pg()
    with pytest.raises(error), scratch_database(PG_ADMIN_URL, "probe",
                                                say=lambda _line: None) as url:
        name = url.rsplit("/", 1)[1]
        raise error()
    assert name not in _databases()


def test_sigterm_drops_the_database_too() -> None:
    require_pg()
    code = ("import time\nfrom bench.scratchdb import scratch_database\n"
            f"with scratch_database({PG_ADMIN_URL!r}, 'probe', say=lambda l: print(l, "
            "flush=True)):\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    with proc.stdout:
        line = proc.stdout.readline()
        name = line.split("database ", 1)[1].split()[0]
        assert name == f"chargeline_bench_probe_{proc.pid}"
        assert name in _databases()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    assert name not in _databases()


def test_leftovers_name_databases_of_processes_gone() -> None:
    require_pg()
    dead = 4_194_000  # above any pid the kernel hands out here (pid_max 4194304)
    while os.path.exists(f"/proc/{dead}"):
        dead += 1
    name = f"chargeline_bench_probe_{dead}"
    create_database(PG_ADMIN_URL, name)
    try:
        found = leftovers(PG_ADMIN_URL)
        assert name in found
        assert not any(n.endswith(f"_{os.getpid()}") for n in found)
    finally:
        drop_database(PG_ADMIN_URL, name)
    assert name not in _databases()
