"""More than one machine: slots and leases in the store, and real collector processes.

Two ``chargeline collector`` processes on one PostgreSQL poll each source once per
slot and write no duplicate rows; on SQLite a second collector is refused with a clear
message."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select

from collectors.data import leases
from collectors.runner import run_source
from core.config import Schedule, Settings, SourceConfig
from store.engine import make_engine
from store.schema import charges, collector_runs, interface_messages, source_watermarks
from store.schema_collectors import collector_slots
from tests.collectors import payloads as p
from tests.collectors.fake_estate import FakeEstate
from tests.conftest import _truncate_all

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def test_a_slot_is_claimed_once(engine: Engine) -> None:
    assert leases.acquire(engine, "erp", "a", T0, 60)
    leases.release(engine, "erp", "a")
    assert not leases.acquire(engine, "erp", "b", T0, 60)  # the same slot, later
    assert leases.acquire(engine, "erp", "b", T0 + timedelta(minutes=1), 60)


def test_a_live_lease_blocks_other_holders_and_a_dead_one_expires(engine: Engine) -> None:
    assert leases.acquire(engine, "erp", "a", T0, 60, now=T0)
    # "a" is still polling (it never released) when the next slot fires elsewhere
    slot2 = T0 + timedelta(minutes=1)
    assert not leases.acquire(engine, "erp", "b", slot2, 60, now=T0 + timedelta(seconds=30))
    with engine.connect() as conn:  # the refused claim left no slot behind
        assert conn.execute(select(func.count()).select_from(collector_slots)).scalar_one() == 1
    # "a" died: its lease expires and "b" takes the source
    assert leases.acquire(engine, "erp", "b", slot2, 60, now=T0 + timedelta(seconds=61))
    with engine.begin() as conn:  # "a" wakes up: its renewal fails, so its page would abort
        assert not leases.renew(conn, "erp", "a", 60)
        assert leases.renew(conn, "erp", "b", 60)


def test_a_pass_that_lost_its_lease_commits_no_more_pages(engine: Engine, estate: FakeEstate
                                                          ) -> None:
    estate.fhir["ChargeItem"] = [
        p.resource(p.CHARGE_ITEM, i, f"2026-11-18T10:00:{i:02d}.000Z") for i in range(20)]
    source = SourceConfig(name="billing", kind="fhir_billing", page_size=7,
                          base_url=f"{estate.base_url}/billing/fhir",
                          oauth2={"token_url": f"{estate.base_url}/oauth/token",
                                  "client_id": "chargeline", "client_secret": "demo-secret"})
    settings = Settings(sources=[source], lease_seconds=60)

    def another_collector_takes_over(key: str) -> None:
        # when our pass asks for its third page (the first is committed, the second in
        # hand), a collector whose clock says our lease has expired (we look dead to it)
        # claims the source for its next slot
        if "_offset=14" in key and estate.attempts[key] == 1:
            later = datetime.now(UTC) + timedelta(seconds=61)
            assert leases.acquire(engine, "billing", "other", later, 60, now=later)

    estate.on_request = another_collector_takes_over
    result = run_source(settings, engine, source, holder="me")
    assert result is not None and result.status.value == "error"
    assert "lost to another collector" in result.error
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(charges)).scalar_one()
        cursor = conn.execute(select(source_watermarks.c.cursor)
                              .where(source_watermarks.c.stream == "ChargeItem")).scalar_one()
    # page 1 was committed before the takeover, page 3 (and on) after it: only page 2
    # races with it (it is committed while page 3 is being asked for)
    assert stored in (7, 14)
    assert cursor == f"2026-11-18T10:00:{stored - 1:02d}.000Z"  # the cursor matches the rows


# --- real processes --------------------------------------------------------------------

def _config(tmp_path: Path, database_url: str, sources: list[SourceConfig], **extra: Any
            ) -> dict[str, str]:
    config = {"database_url": database_url, "lease_seconds": 20,
              "sources": [s.model_dump(mode="json", exclude_defaults=True) for s in sources],
              **extra}
    for src, dumped in zip(sources, config["sources"], strict=True):
        if src.oauth2 is not None:
            dumped["oauth2"]["client_secret"] = src.oauth2.client_secret.get_secret_value()
        dumped["schedule"] = src.schedule.model_dump(exclude_none=True)
    path = tmp_path / "chargeline.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    env["CHARGELINE_CONFIG"] = str(path)
    return env


def _collector(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "chargeline", "collector",
                                 "--no-pipeline", *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def test_sqlite_refuses_a_second_collector(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    source = SourceConfig(name="logs", kind="hl7_log", path=str(logs),
                          schedule=Schedule(interval_seconds=60))
    env = _config(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", [source])
    first = _collector(env, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 60
        while b"polling" not in (tmp_path / "first.log").read_bytes():
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "chargeline", "collector",
                                 "--no-pipeline"], cwd=ROOT, env=env, capture_output=True,
                                timeout=120)
        assert second.returncode == 2
        message = second.stderr.decode()
        assert "another collector" in message and "SQLite supports one collector" in message
        assert "PostgreSQL" in message  # what to do instead
        once = subprocess.run([sys.executable, "-m", "chargeline", "collect", "--once",
                               "--no-pipeline"], cwd=ROOT, env=env, capture_output=True,
                              timeout=120)
        assert once.returncode == 2 and "another collector" in once.stderr.decode()
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert first.returncode == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_two_collector_processes_share_the_sources_on_postgresql(
        pg_database_url: str, estate: FakeEstate, tmp_path: Path) -> None:
    engine = make_engine(pg_database_url)
    _truncate_all(engine)
    n = 40
    estate.fhir["ChargeItem"] = [
        p.resource(p.CHARGE_ITEM, i, f"2026-11-18T10:00:{i:02d}.000Z") for i in range(n)]
    logs = tmp_path / "logs" / "FAC01_CHG_OUT"
    logs.mkdir(parents=True)
    log_file = logs / "FAC01_CHG_OUT-20261118.hl7"
    log_file.write_bytes(b"".join(p.dft(i).encode() + b"\n" for i in range(1, 21)))
    every = Schedule(interval_seconds=2)
    sources = [
        SourceConfig(name="billing", kind="fhir_billing",
                     base_url=f"{estate.base_url}/billing/fhir",
                     oauth2={"token_url": f"{estate.base_url}/oauth/token",
                             "client_id": "chargeline", "client_secret": "demo-secret"},
                     page_size=7, schedule=every, overlap_seconds=0),
        SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path / "logs"), schedule=every),
    ]
    env = _config(tmp_path, pg_database_url, sources)
    procs = [_collector(env, tmp_path / f"collector{i}.log") for i in (1, 2)]
    try:
        time.sleep(6)
        # new data arrives while both run
        estate.fhir["ChargeItem"] += [
            p.resource(p.CHARGE_ITEM, i, f"2026-11-18T11:00:{i - n:02d}.000Z")
            for i in range(n, n + 10)]
        with open(log_file, "ab") as handle:
            handle.write(b"".join(p.dft(i).encode() + b"\n" for i in range(21, 31)))
        time.sleep(8)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    output = "".join((tmp_path / f"collector{i}.log").read_text() for i in (1, 2))
    assert all(proc.returncode == 0 for proc in procs), output
    with engine.connect() as conn:
        runs = conn.execute(select(collector_runs)).all()
        slots = conn.execute(select(collector_slots)
                             .where(~collector_slots.c.source.like("job:%"))).all()
        n_charges = conn.execute(select(func.count()).select_from(charges)).scalar_one()
        n_messages = conn.execute(select(func.count()).select_from(interface_messages)
                                  ).scalar_one()
    engine.dispose()
    assert n_charges == n + 10 and n_messages == 30  # everything, once
    by_run = {s.run_id: s for s in slots}
    assert len(runs) == len(slots) == len(by_run)  # each run is one claimed slot
    for run in runs:
        assert run.status in ("ok", "nodata"), run.error
        assert by_run[run.run_id].source == run.source
    for name in ("billing", "logs"):
        mine = sorted((r for r in runs if r.source == name), key=lambda r: r.started_at)
        assert len(mine) >= 4  # polled on schedule
        for before, after in itertools.pairwise(mine):
            assert before.finished_at <= after.started_at  # never two passes at once
    assert len({r.collector_id for r in runs}) == 2  # both processes did work
    assert "slot taken by another collector" in output  # they did compete for slots


@pytest.mark.slow
def test_a_stopped_collector_finishes_the_pass_in_flight(estate: FakeEstate,
                                                         tmp_path: Path) -> None:
    """SIGTERM while a pass walks its pages: the process waits for the pass, which ends
    ``ok`` with every page, instead of dying half-way at interpreter shutdown."""
    import threading

    n = 21  # three pages of 7
    estate.fhir["ChargeItem"] = [
        p.resource(p.CHARGE_ITEM, i, f"2026-11-18T10:00:{i:02d}.000Z") for i in range(n)]
    in_flight = threading.Event()

    def slow_charge_pages(key: str) -> None:
        if "ChargeItem" in key:
            in_flight.set()
            time.sleep(1.0)  # the stop lands while the pass waits for this page

    estate.on_request = slow_charge_pages
    source = SourceConfig(name="billing", kind="fhir_billing",
                          base_url=f"{estate.base_url}/billing/fhir",
                          oauth2={"token_url": f"{estate.base_url}/oauth/token",
                                  "client_id": "chargeline", "client_secret": "demo-secret"},
                          page_size=7, schedule=Schedule(interval_seconds=3600))
    db = tmp_path / "store.db"
    proc = _collector(_config(tmp_path, f"sqlite:///{db}", [source]), tmp_path / "c.log")
    try:
        assert in_flight.wait(60), (tmp_path / "c.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    output = (tmp_path / "c.log").read_text()
    assert proc.returncode == 0, output
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        runs = conn.execute(select(collector_runs.c.status, collector_runs.c.error)).all()
        stored = conn.execute(select(func.count()).select_from(charges)).scalar_one()
    engine.dispose()
    assert [r.status for r in runs] == ["ok"], (runs, output)
    assert stored == n
