"""The collector process's scheduler: job options, the after-pass hook (called only
after passes that wrote, coalesced, errors logged), and extra periodic jobs."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from collectors.scheduler import (
    MISFIRE_GRACE_SECONDS,
    CollectorRuntime,
    build_scheduler,
    extra_job,
    poll_job,
    slot_of,
)
from core.config import Schedule, Settings, SourceConfig
from core.model import RunStatus
from tests.collectors import payloads as p


def test_jobs_have_explicit_ids_and_safe_options(tmp_path: Path) -> None:
    sources = [
        SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path),
                     schedule=Schedule(interval_seconds=30)),
        SourceConfig(name="erp", kind="odata_erp", base_url="http://erp.example/odata",
                     schedule=Schedule(cron="*/5 * * * *")),
        SourceConfig(name="off", kind="odata_erp", base_url="http://x.example", enabled=False),
    ]
    settings = Settings(sources=sources)
    scheduler = build_scheduler(settings, sources, None, holder="h1",
                                extra_jobs=[("rules:evaluate", 60, lambda: None)])
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"collect:logs", "collect:erp", "rules:evaluate",
                         "collect:logs:startup", "collect:erp:startup"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS
    logs = jobs["collect:logs"].trigger
    assert isinstance(logs, IntervalTrigger) and logs.interval.total_seconds() == 30
    assert int(logs.start_date.timestamp()) % 30 == 0  # aligned: every process, same slots
    assert logs.get_next_fire_time(None, datetime.now(UTC)).timestamp() % 30 == 0
    assert isinstance(jobs["collect:erp"].trigger, CronTrigger)
    assert str(jobs["collect:erp"].trigger.fields[6]) == "*/5"  # the minute field
    assert all(job.kwargs == {} and job.args[0].holder == "h1" for job in jobs.values())


def test_slots_are_the_same_instant_in_every_process() -> None:
    a = datetime(2026, 11, 18, 10, 0, 7, tzinfo=UTC)
    b = datetime(2026, 11, 18, 10, 0, 59, 999000, tzinfo=UTC)
    assert slot_of(60, a) == slot_of(60, b) == datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    assert slot_of(30, b) == datetime(2026, 11, 18, 10, 0, 30, tzinfo=UTC)


def _log_source(tmp_path: Path) -> tuple[Settings, Path]:
    folder = tmp_path / "FAC01_CHG_OUT"
    folder.mkdir()
    source = SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path),
                          schedule=Schedule(interval_seconds=1))
    return Settings(sources=[source]), folder / "FAC01_CHG_OUT-20261118.hl7"


def test_after_pass_runs_only_when_a_pass_wrote_and_its_errors_are_logged(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings, log = _log_source(tmp_path)
    calls: list[str] = []

    def after_pass() -> None:
        calls.append("after")
        raise RuntimeError("metrics broke")

    runtime = CollectorRuntime(settings, engine, "h1", after_pass)
    log.write_bytes(p.dft(1).encode() + b"\n")
    with caplog.at_level(logging.ERROR, logger="chargeline.collectors"):
        first = poll_job(runtime, "logs")
    assert first is not None and first.status is RunStatus.OK
    assert calls == ["after"]
    assert "after-pass hook failed" in caplog.text and "metrics broke" in caplog.text
    time.sleep(1.05)  # the next slot
    second = poll_job(runtime, "logs")
    assert second is not None and second.status is RunStatus.NODATA
    assert calls == ["after"]  # nothing new: no recomputation


def test_after_pass_requests_coalesce_while_one_runs(engine: Engine, tmp_path: Path) -> None:
    settings, _ = _log_source(tmp_path)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        started.set()
        release.wait(5)

    runtime = CollectorRuntime(settings, engine, "h1", slow)
    first = threading.Thread(target=runtime.request_after_pass)
    first.start()
    assert started.wait(5)
    for _ in range(5):  # five passes finish while the hook runs
        runtime.request_after_pass()
    assert calls == [1]
    release.set()
    first.join(5)
    assert calls == [1, 1]  # one more run covers all five


def test_extra_jobs_run_once_per_slot_across_processes(engine: Engine, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    settings, _ = _log_source(tmp_path)
    ran: list[str] = []
    a = CollectorRuntime(settings, engine, "process-a")
    b = CollectorRuntime(settings, engine, "process-b")
    assert extra_job(a, "rules:evaluate", 3600, lambda: ran.append("a")) is True
    assert extra_job(b, "rules:evaluate", 3600, lambda: ran.append("b")) is False
    assert ran == ["a"]

    def broken() -> None:
        raise ValueError("smtp down")

    with caplog.at_level(logging.ERROR, logger="chargeline.collectors"):
        assert extra_job(a, "outbox:dispatch", 3600, broken) is True
    assert "job outbox:dispatch failed" in caplog.text


def test_every_scheduled_pass_is_reported_to_on_run_finished(
        engine: Engine, tmp_path: Path) -> None:
    settings, log = _log_source(tmp_path)
    reported: list[str] = []
    runtime = CollectorRuntime(settings, engine, "h1", None,
                               lambda _settings, _engine, run_id: reported.append(run_id))
    log.write_bytes(p.dft(1).encode() + b"\n")
    first = poll_job(runtime, "logs")
    time.sleep(1.05)  # the next slot
    second = poll_job(runtime, "logs")  # nothing new: a run all the same
    assert first is not None and second is not None
    assert reported == [first.run_id, second.run_id]
