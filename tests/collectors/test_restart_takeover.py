"""A SQLite collector SIGKILLed mid-pass and started again polls its sources at once: the
lock file makes it the only collector, so the dead process's leases, slots and running
runs are taken over at start instead of waited out ("slot taken by another collector"
for lease_seconds)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from sqlalchemy import select

from core.config import Schedule, SourceConfig
from store.engine import make_engine
from store.schema import collector_runs, source_leases
from tests.collectors import payloads as p
from tests.collectors.fake_estate import FakeEstate
from tests.collectors.test_leases import _collector, _config


def _runs(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(collector_runs).order_by(collector_runs.c.started_at)
                                ).all()
    finally:
        engine.dispose()


def _wait(what: str, check, timeout: float, log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s; log:\n{log.read_text()[-3000:]}")


def test_a_killed_sqlite_collector_restarts_and_polls_at_once(
        estate: FakeEstate, tmp_path: Path) -> None:
    estate.fhir["ChargeItem"] = [
        p.resource(p.CHARGE_ITEM, i, f"2026-11-18T10:00:{i:02d}.000Z") for i in range(5)]
    held = threading.Event()
    release = threading.Event()

    def hang_the_first_pass(_key: str) -> None:
        if not held.is_set():  # the dead collector's pass stops here, mid-way
            held.set()
            release.wait(60)

    estate.on_request = hang_the_first_pass
    url = f"sqlite:///{tmp_path / 'store.db'}"
    source = SourceConfig(name="billing", kind="fhir_billing",
                          base_url=f"{estate.base_url}/billing/fhir",
                          oauth2={"token_url": f"{estate.base_url}/oauth/token",
                                  "client_id": "chargeline", "client_secret": "demo-secret"},
                          schedule=Schedule(interval_seconds=3600))
    # the default lease (120 s): the old restart waited that long for the dead holder
    env = _config(tmp_path, url, [source], lease_seconds=120, data_dir=str(tmp_path))
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _collector(env, first_log)
    try:
        _wait("the first pass to start", held.is_set, 60, first_log)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        release.set()
    [dead] = _runs(url)
    assert dead.status == "running"  # what the killed process left

    started = time.monotonic()
    second = _collector(env, second_log)
    try:
        done = _wait("the restarted collector's first pass",
                     lambda: [r for r in _runs(url) if r.run_id != dead.run_id
                              and r.status in ("ok", "nodata")], 30, second_log)
        took = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    output = second_log.read_text()
    assert second.returncode == 0, output
    assert took < 20, output  # not lease_seconds
    assert "slot taken" not in output
    assert "1 run(s) closed as interrupted" in output
    assert done[0].records == 5
    runs = {r.run_id: r for r in _runs(url)}
    assert runs[dead.run_id].status == "error"
    assert runs[dead.run_id].error_class == "Interrupted"
    assert not [r for r in runs.values() if r.status == "running"]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            holders = set(conn.execute(select(source_leases.c.holder)).scalars())
    finally:
        engine.dispose()
    assert done[0].collector_id in holders
