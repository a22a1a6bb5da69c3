"""Retention (``metrics.compute.retention``, ``chargeline db retain``, the collector's job):
encounters whose every record is older than the cutoff go whole, with their derived rows;
newer ones and ones with one newer record stay; metric points stay; a dry run deletes
nothing; a bad policy is refused with the key and a fix. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from chargeline.pipeline import collector_hooks
from core.config import ChargeSla, Settings, load_settings
from core.errors import ConfigError
from metrics.compute.points import retained_before
from metrics.compute.retention import cutoff_for, retain
from metrics.compute.run import compute
from store.engine import make_engine
from store.schema import (
    charges,
    encounters,
    interface_messages,
    inventory_transactions,
    message_usages,
    usage_events,
)
from store.schema_metrics import (
    metric_charge_facts,
    metric_exceptions,
    metric_links,
    metric_points,
    metric_usage_facts,
    metric_usage_points,
)

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = (usage_events, interface_messages, message_usages, charges,
             inventory_transactions)


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _rows(engine: Engine, table: Table) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(table))}


def _newest_record(engine: Engine) -> dict[str, datetime]:
    """Per encounter, the newest time of any record of it (scans, charges, the messages
    naming its scans, the inventory transactions naming or linked to them)."""
    u, c, mu, m, t, ml = (usage_events, charges, message_usages, interface_messages,
                          inventory_transactions, metric_links)
    newest: dict[str, datetime] = {}

    def note(enc: str, at: datetime | None) -> None:
        if at is not None and (enc not in newest or at > newest[enc]):
            newest[enc] = at

    with engine.connect() as conn:
        for enc, at in conn.execute(select(u.c.encounter_id, u.c.used_at)):
            note(enc, at)
        for enc, at in conn.execute(select(c.c.encounter_id, c.c.posted_at)):
            note(enc, at)
        for enc, at in conn.execute(select(u.c.encounter_id, m.c.received_at).join(
                mu, mu.c.usage_id == u.c.usage_id).join(
                m, (m.c.channel == mu.c.channel) & (m.c.control_id == mu.c.control_id)
                & (m.c.facility_id == mu.c.facility_id))):
            note(enc, at)
        for usage_col in (t.c.usage_id, ml.c.usage_id):
            query = select(u.c.encounter_id, t.c.posted_at, t.c.moved_at).join(
                t, usage_col == u.c.usage_id) if usage_col is t.c.usage_id else select(
                u.c.encounter_id, t.c.posted_at, t.c.moved_at).join(
                ml, ml.c.usage_id == u.c.usage_id).join(t, t.c.document_id == ml.c.target_id)
            for enc, posted, moved in conn.execute(query):
                note(enc, posted)
                note(enc, moved)
    return newest


@pytest.fixture
def aged_store(engine: Engine) -> tuple[Engine, dict[str, Any], datetime]:
    """40 days of records, computed; the cutoff 15 days in."""
    from bench.datagen import generate

    info = generate(engine, 2000, seed=23, facilities=2, days=40, feeds=False)
    compute(engine, ChargeSla(), now=info["end"] + timedelta(days=1))
    cutoff = (info["start"] + timedelta(days=15)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    return engine, info, cutoff


def test_old_encounters_go_whole_and_the_rest_stays(aged_store: Any) -> None:
    engine, info, cutoff = aged_store
    now = info["end"] + timedelta(days=1)
    newest = _newest_record(engine)
    old = {e for e, at in newest.items() if at < cutoff}
    with engine.connect() as conn:
        early = set(conn.execute(select(usage_events.c.encounter_id).where(
            usage_events.c.used_at < cutoff)).scalars())
    spanning = early - old  # a scan before the cutoff, a record after it
    assert old and spanning, "the store exercises neither case"
    used_at = [c.name for c in usage_events.c].index("used_at")
    newer_scans = {r for r in _rows(engine, usage_events) if r[used_at] >= cutoff}
    points = {t.name: _rows(engine, t) for t in (metric_usage_points, metric_points)}
    exceptions = _count(engine, metric_exceptions)

    done = retain(engine, cutoff, batch=37, now=now)

    assert done.encounters == len(old) and done.batches > 1
    assert done.kept_encounters == len(spanning)
    with engine.connect() as conn:
        left = set(conn.execute(select(usage_events.c.encounter_id).distinct()).scalars())
        charged = set(conn.execute(select(charges.c.encounter_id).distinct()).scalars())
        facts = set(conn.execute(select(metric_usage_facts.c.encounter_id)).scalars())
        charge_facts = set(conn.execute(select(metric_charge_facts.c.encounter_id)).scalars())
        assert retained_before(conn) == cutoff
    assert not left & old and not charged & old  # gone whole
    assert spanning <= left  # kept whole: its early scans too
    assert not facts & old and not charge_facts & old  # and their derived rows
    assert newer_scans <= _rows(engine, usage_events)
    assert done.rows["usage_events"] > 0 and done.rows["interface_messages"] > 0
    assert done.rows["charges"] > 0 and done.rows["inventory_transactions"] > 0
    assert sum(done.rows[t.name] for t in (*CANONICAL, encounters)) == done.canonical_rows
    # the points and the queue stay, through an incremental and a full pass
    assert {t.name: _rows(engine, t) for t in (metric_usage_points, metric_points)} == points
    assert _count(engine, metric_exceptions) == exceptions
    after = compute(engine, ChargeSla(), now=now)  # no new rows: nothing to redo
    assert not after.full and after.encounters == 0
    compute(engine, ChargeSla(), full=True, now=now)
    for table in (metric_usage_points, metric_points):
        at = [c.name for c in table.c].index("bucket")
        assert {r for r in _rows(engine, table) if r[at] < cutoff} == {
            r for r in points[table.name] if r[at] < cutoff}, table.name
    # a second run finds nothing more
    again = retain(engine, cutoff, now=now)
    assert again.encounters == 0 and again.canonical_rows == 0


def test_a_dry_run_deletes_nothing(aged_store: Any) -> None:
    engine, _info, cutoff = aged_store
    tables = (*CANONICAL, metric_usage_facts, metric_links, metric_usage_points,
              metric_points, metric_exceptions)
    before = {t.name: _count(engine, t) for t in tables}
    dry = retain(engine, cutoff, batch=50, dry_run=True)
    assert dry.dry_run and dry.encounters > 0 and dry.rows["usage_events"] > 0
    assert {t.name: _count(engine, t) for t in tables} == before
    with engine.connect() as conn:
        assert retained_before(conn) is None
    real = retain(engine, cutoff, batch=50)
    assert (real.encounters, real.rows) == (dry.encounters, dry.rows)  # what it said


@pytest.mark.parametrize(("now", "months", "cutoff"), [
    (datetime(2026, 12, 7, 15, 30, tzinfo=UTC), 13, datetime(2025, 11, 7, tzinfo=UTC)),
    (datetime(2026, 3, 31, 1, 0, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2024, 3, 31, 1, 0, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
    (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), 12, datetime(2025, 1, 15, tzinfo=UTC)),
    (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), 25, datetime(2023, 12, 15, tzinfo=UTC)),
])
def test_the_cutoff_is_calendar_months_back_at_utc_midnight(now: datetime, months: int,
                                                            cutoff: datetime) -> None:
    assert cutoff_for(now, months) == cutoff


@pytest.mark.parametrize(("value", "problem"), [
    ({"raw_months": 0}, "greater than or equal to 1"),
    ({"raw_months": "a year"}, "valid integer"),
    ({"batch_encounters": 0}, "greater than or equal to 1"),
    ({"interval_seconds": 5}, "greater than or equal to 60"),
    ({"keep": "forever"}, "Extra inputs are not permitted"),
])
def test_a_bad_policy_is_refused_naming_the_key(value: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(retention=value)
    text = str(err.value)
    key = next(iter(value))
    assert f"config retention.{key} (CHARGELINE_RETENTION__{key.upper()})" in text
    assert problem in text
    if key != "keep":
        assert "— e.g." in text


def _chargeline(args: list[str], store_url: str, tmp_path: Path, **env: str
                ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    clean.update(CHARGELINE_DATABASE_URL=store_url, CHARGELINE_DATA_DIR=str(tmp_path),
                 CHARGELINE_PHI_SECRET="retention-test-secret", **env)
    return subprocess.run([sys.executable, "-m", "chargeline", *args], cwd=tmp_path,
                          env=clean, capture_output=True, text=True, timeout=300,
                          check=False)


def test_db_retain_dry_run_then_for_real(store_url: str, tmp_path: Path) -> None:
    from bench.datagen import generate

    engine = make_engine(store_url)
    try:
        generate(engine, 600, seed=5, facilities=1, days=50, feeds=False)
        compute(engine, ChargeSla())
        scans = _count(engine, usage_events)
        dry = _chargeline(["db", "retain", "--dry-run", "--months", "1"], store_url, tmp_path)
        assert dry.returncode == 0, dry.stderr[-2000:]
        assert "would age out" in dry.stdout and "dry run: nothing was deleted" in dry.stdout
        assert _count(engine, usage_events) == scans
        done = _chargeline(["db", "retain", "--months", "1", "--batch", "20"], store_url,
                           tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "aged out" in done.stdout and "rows/s" in done.stdout
        gone = scans - _count(engine, usage_events)
        assert gone > 0 and f"usage_events {gone:,}" in done.stdout
        cutoff = cutoff_for(datetime.now(UTC), 1)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(usage_events).where(
                usage_events.c.used_at >= cutoff)).scalar_one() > 0  # newer ones stay
    finally:
        engine.dispose()


def test_db_retain_refuses_a_bad_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    bad = _chargeline(["db", "retain"], url, tmp_path, CHARGELINE_RETENTION__RAW_MONTHS="0")
    assert bad.returncode != 0
    assert ("error: config retention.raw_months (CHARGELINE_RETENTION__RAW_MONTHS): Input "
            "should be greater than or equal to 1") in bad.stderr
    months = _chargeline(["db", "retain", "--months", "0"], url, tmp_path)
    assert months.returncode != 0 and "error: --months 0: keep at least 1 month" in months.stderr


def test_the_collector_runs_retention_as_a_job(engine: Engine, tmp_path: Path) -> None:
    from bench.datagen import generate

    url = engine.url.render_as_string(hide_password=False)
    off = Settings(database_url=url, data_dir=tmp_path, retention={"enabled": False})
    assert "retention" not in {job for job, _s, _f in collector_hooks(off, engine)[1]}
    settings = Settings(database_url=url, data_dir=tmp_path,
                        retention={"raw_months": 1, "interval_seconds": 900})
    jobs = {job: (seconds, func) for job, seconds, func in collector_hooks(settings, engine)[1]}
    assert jobs["retention"][0] == 900
    generate(engine, 400, seed=9, facilities=1, days=50, feeds=False)
    compute(engine, ChargeSla())
    scans = _count(engine, usage_events)
    jobs["retention"][1]()
    assert 0 < _count(engine, usage_events) < scans


def test_encounters_another_run_took_are_not_counted_again(aged_store: Any) -> None:
    from metrics.compute.retention import RetentionResult, _age_out

    engine, info, cutoff = aged_store
    old = sorted(e for e, at in _newest_record(engine).items() if at < cutoff)
    first = retain(engine, cutoff)
    assert first.encounters == len(old)
    stale = RetentionResult(cutoff, dry_run=False)
    with engine.begin() as conn:  # the same candidates, read before the first run deleted
        _age_out(conn, old, cutoff, info["end"], stale)
    assert (stale.encounters, stale.kept_encounters, stale.canonical_rows) == (0, 0, 0)
