"""`chargeline demo` (what `make demo` runs) end to end, as a user starts it: the estate
is served over HTTP, the first pass fills the store, the collector and the dashboard run,
every facility has usage, messages, charges and inventory issues, and stopping the demo
stops all of it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from store.schema import (
    channel_stats,
    charges,
    collector_runs,
    interface_messages,
    inventory_transactions,
    usage_events,
)

pytestmark = pytest.mark.slow
READY_LINE = "Chargeline dashboard: "


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(log: Path, proc: subprocess.Popen[bytes], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace") if log.exists() else ""
        if text in content:
            return content
        if proc.poll() is not None:
            pytest.fail(f"demo exited with {proc.returncode}:\n{content}")
        time.sleep(0.5)
    pytest.fail(f"demo not ready after {timeout}s:\n{log.read_text(errors='replace')}")


def _per_facility(engine, table, *where) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.facility_id, func.count())
                            .where(*where).group_by(table.c.facility_id)).all()
    return {facility: count for facility, count in rows}


def test_demo_serves_dashboard_with_counts_for_every_facility(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    port, sim_port = _free_port(), _free_port()
    log = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chargeline", "demo", "--out", str(out), "--port", str(port),
             "--sim-port", str(sim_port), "--facilities", "2", "--days", "1",
             "--volume-scale", "0.1"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        console = _wait_for_line(log, proc, READY_LINE, timeout=240)
        assert f"http://127.0.0.1:{port}" in console
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).text == "ok"
        assert httpx.get(f"http://127.0.0.1:{sim_port}/health", timeout=5).text == "ok"

        truth = json.loads((out / "estate" / "truth.json").read_text())
        engine = create_engine(f"sqlite:///{out / 'chargeline.db'}")
        tables = {
            "usage events": _per_facility(engine, usage_events),
            "messages": _per_facility(engine, interface_messages),
            "charges": _per_facility(engine, charges),
            "inventory issues": _per_facility(engine, inventory_transactions,
                                              inventory_transactions.c.txn_type == "ISSUE"),
            # the engine is read the NextGen Connect (Mirth) way, through its REST API
            "engine snapshots (Mirth API)": _per_facility(engine, channel_stats,
                                                          channel_stats.c.source == "mirth"),
        }
        with engine.connect() as conn:  # the clearinghouse's 835 folder is polled too
            x12_runs = {source: conn.execute(select(collector_runs.c.status).where(
                collector_runs.c.source == source)).scalars().all()
                for source in ("billing-835", "billing-837")}  # and the 837 claim batches
        engine.dispose()
        for source, runs in x12_runs.items():
            assert runs and set(runs) <= {"ok", "nodata"}, (source, runs)
        for what, counts in tables.items():
            for facility in truth["facilities"]:
                assert counts.get(facility, 0) > 0, f"no {what} for {facility}: {counts}"
        assert "error" not in console.split("First collection pass")[1].split(READY_LINE)[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for p in (port, sim_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", p)) != 0, f"port {p} still served after stop"
