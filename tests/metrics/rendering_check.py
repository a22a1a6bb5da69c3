"""Collect a served estate rendering into a store and read back what the metrics found,
for the rendering tests (``test_renderings``, ``test_renderings_property``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collectors.runner import run_source
from core.config import ChargeSla, Settings
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.compute.stitching import FALLBACK_ISSUE_DAYS
from metrics.read.report_data import build_report
from store.engine import make_engine
from store.migrate import upgrade
from store.schema import inventory_transactions, usage_events
from tests.conftest import scratch_pg_database
from tests.metrics.truth_check import by_kind, expected, found, open_exceptions

HTTP_OFF = {"http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0, "timeout": 0.0}
# Figures a rendering may change by definition: how long API calls took.
VOLATILE = ("computed_at", "sources")


@dataclass(frozen=True)
class Outcome:
    truth: dict[str, Any]
    flagged: dict[str, set[Any]]  # per kind, as truth_check.found gives them
    dollars: dict[tuple[str, str, str], float]  # (kind, facility, subject) -> $
    report: dict[str, Any]
    scans: dict[str, tuple[Any, ...]]  # usage -> what the ERP can tell scans apart by
    used_at: dict[str, datetime]
    unlinked_issue: frozenset[str]  # usages whose ERP issue came without the usage link


def store_url(backend: str, tmp: Path, template: Path, prefix: str = "chargeline_render"
              ) -> Iterator[str]:
    """A fresh migrated store's URL: a copy of the migrated SQLite ``template`` in ``tmp``,
    or a scratch PostgreSQL database named after ``prefix`` (dropped when the generator
    is closed)."""
    if backend == "sqlite":
        path = tmp / f"{prefix}.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    with scratch_pg_database(prefix) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def figures(engine: Engine, truth: dict[str, Any], sla: ChargeSla) -> dict[str, Any]:
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    as_of = datetime.fromisoformat(truth["as_of"].replace("Z", "+00:00"))
    doc = build_report(engine, sla, since=start, until=as_of)
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def collect(url: str, running: Any) -> Outcome:
    """Poll every source of a running estate into the store at ``url``, compute, and
    read back the flagged records, their $, the report and the scans' evidence."""
    engine = make_engine(url)
    try:
        settings = Settings(database_url=url, sources=running.sources)
        results = [run_source(settings, engine, src, sleep=lambda _s: None)
                   for src in settings.sources]
        assert all(r.status is RunStatus.OK for r in results), [r.error for r in results]
        truth = running.truth
        sla = ChargeSla(**truth["sla"])
        as_of = datetime.fromisoformat(truth["as_of"].replace("Z", "+00:00"))
        compute(engine, sla, now=as_of)
        return read_outcome(engine, truth, running.estate)
    finally:
        engine.dispose()


def read_outcome(engine: Engine, truth: dict[str, Any], estate: Any) -> Outcome:
    """What the computed metrics of a store found (flagged records, $, the report, the
    scans' evidence), however the store was filled."""
    sla = ChargeSla(**truth["sla"])
    rows = open_exceptions(engine)
    return Outcome(
        truth, found(rows),
        {(r.kind, r.facility_id, r.subject): round(r.amount, 2) for r in rows},
        figures(engine, truth, sla), *scan_evidence(engine, estate))


def scan_evidence(engine: Engine, estate: Any) -> tuple[Any, ...]:
    """What tells scans apart for an unreferenced ERP issue, their times, and which
    usages' issues arrived without the usage link."""
    u, t = usage_events, inventory_transactions
    with engine.connect() as conn:
        rows = conn.execute(select(u.c.usage_id, u.c.facility_id, u.c.location_id,
                                   u.c.item_ref, u.c.quantity, u.c.uom, u.c.lot, u.c.serial,
                                   u.c.used_at)).all()
        bare = set(conn.execute(select(t.c.document_id).where(t.c.usage_id == "")).scalars())
    scans = {r.usage_id: (r.facility_id, r.location_id, r.item_ref, float(r.quantity), r.uom,
                          r.lot, r.serial) for r in rows}
    unlinked = frozenset(tr.usage.usage_id for f in estate.facilities for tr in f.trails
                         if tr.issue is not None and tr.issue.document_id in bare)
    return scans, {r.usage_id: r.used_at for r in rows}, unlinked


def swaps(outcome: Outcome, missed: set[str], extra: set[str]) -> bool:
    """Every missed missing-issue scan pairs with one reported instead that the ERP cannot
    tell apart from it: same spot, item, quantity, unit, lot and serial, within the
    fallback window, and the reported one's own issue came without its usage link."""
    left = set(extra)
    for a in sorted(missed):
        match = next((b for b in sorted(left) if b in outcome.unlinked_issue
                      and outcome.scans[b] == outcome.scans[a]
                      and abs((outcome.used_at[b] - outcome.used_at[a]).total_seconds())
                      <= FALLBACK_ISSUE_DAYS * 86400), None)
        if match is None:
            return False
        left.discard(match)
    return not left


def assert_truth(outcome: Outcome) -> None:
    want = expected(outcome.truth)
    for kind in want:
        missed, extra = want[kind] - outcome.flagged[kind], outcome.flagged[kind] - want[kind]
        if kind == "missing_inventory_issue" and swaps(outcome, missed, extra):
            continue
        assert not missed and not extra, (
            f"{kind}: missed {sorted(missed, key=str)[:5]}, "
            f"reported but not injected {sorted(extra, key=str)[:5]}")
    assert set(outcome.flagged) == set(want), set(outcome.flagged) - set(want)
    k = by_kind(outcome.truth)
    for f in k["missing_charge"]:
        assert outcome.dollars["missing_charge", f["facility_id"], f["usage_id"]] == \
            pytest.approx(f["amount"], abs=0.005), f
    dup = {kind_subject[2]: usd for kind_subject, usd in outcome.dollars.items()
           if kind_subject[0] == "duplicate_charge"}
    for f in k["duplicate_charge"]:
        # the group is named by its original, whichever copy carried the link
        originals = [c for c in f["charge_ids"] if c in dup]
        assert len(originals) == 1, f
        assert dup[originals[0]] == pytest.approx(f["overcharge"], abs=0.005), f


