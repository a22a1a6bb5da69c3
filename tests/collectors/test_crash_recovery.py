"""A collector killed with SIGKILL mid-page and restarted loses and duplicates nothing.

The demo estate is served with every HTTP fault on, behind a switch that SIGKILLs the
collector process at chosen requests — before answering (the process dies waiting for
the page) or right after (it dies parsing, converting or committing it). The process is
restarted until a pass completes; the store must then hold exactly what was served.
Watermarks are committed in the same transaction as their records, so a killed page is
fetched again and its upserts are idempotent. SQLite (WAL recovery) and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from simulator.server import EstateServer
from simulator.sources import demo_sources
from store.engine import make_engine
from store.schema import collector_runs
from tests.collectors.estate_check import assert_exactly_once
from tests.collectors.fake_estate import serve_app
from tests.collectors.test_estate_acceptance import FAULTY

ROOT = Path(__file__).resolve().parents[2]
KILL_AT = {5: "before", 14: "after", 26: "before", 39: "after", 63: "after", 97: "before"}


class KillSwitch:
    """ASGI middleware: SIGKILL the collector at the n-th request (before or after the
    answer is sent)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.pid: int | None = None
        self.kills: list[tuple[int, str]] = []

    def _kill(self, when: str) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            self.kills.append((self.requests, when))
            self.pid = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests += 1
        when = KILL_AT.get(self.requests)
        if when == "before":
            self._kill(when)
        await self.app(scope, receive, send)
        if when == "after":
            self._kill(when)


@pytest.mark.slow
def test_sigkill_mid_page_then_restart_loses_and_duplicates_nothing(
        store_url: str, estate_factory: Any, tmp_path: Path) -> None:
    running = estate_factory(fresh=True, timeout_fault_seconds=1.0, **FAULTY)
    switch = KillSwitch(EstateServer(running.estate, timeout_fault_seconds=1.0).app())
    with serve_app(switch) as base_url:
        sources = demo_sources(base_url, running.out_dir)
        for source in sources:
            if source["kind"] != "hl7_log":
                source.update(timeout_seconds=0.4, page_size=50)
        config = tmp_path / "chargeline.yaml"
        config.write_text(yaml.safe_dump({
            "database_url": store_url, "sources": sources, "lease_seconds": 30,
            # a restarted collector keeps its configured id, so it takes its lease back
            "collector_id": "collector-a"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
        env["CHARGELINE_CONFIG"] = str(config)
        log = tmp_path / "collector.log"
        for _attempt in range(len(KILL_AT) + 3):
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "chargeline", "collect", "--once", "--no-pipeline"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            switch.pid = proc.pid
            proc.wait(timeout=300)
            switch.pid = None
            if proc.returncode != -signal.SIGKILL:
                break
        assert proc.returncode == 0, log.read_text()[-3000:]
    assert len(switch.kills) == len(KILL_AT), switch.kills

    engine = make_engine(store_url)
    try:
        assert_exactly_once(engine, running.estate)
        with engine.connect() as conn:
            runs = conn.execute(select(collector_runs.c.status, collector_runs.c.error_class)
                                ).all()
        interrupted = [r for r in runs if r.error_class == "Interrupted"]
        assert len(interrupted) == len(KILL_AT)  # each killed pass is on record as such
        assert not [r for r in runs if r.status == "running"]
    finally:
        engine.dispose()
