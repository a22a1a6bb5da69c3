"""Metamorphic tests: one estate, many renderings, the same figures.

Each rendering (``simulator.rendering.RENDERINGS``) writes the same underlying estate the
way another hospital's systems do: local UTC offsets in several zones (one with a DST
change inside a window), an EHR in UTC beside local billing, charges and ERP issues
without the usage link, one copy of each duplicate unlinked, ERP posting lag with a
separate transaction time, unit prices instead of line totals, CR LF between ACKs. The
truth file is the same byte for byte, so for every seed:

- every rendering's flagged records equal the truth (precision = recall = 1.0), with
  dollars to the cent; the one documented exception is an ERP issue that lost its usage
  link while two scans of the same item, quantity and lot at its spot could each be its
  scan: the issue goes to the nearer scan and the other reads missing (metrics/README.md,
  "Stitching"); the test accepts exactly such swaps, each pair checked indistinguishable;
- every rendering's report figures equal the plain rendering's, number for number;
- a clean estate (fault rate 0) reports zero problems of every kind in every rendering.

Collected through the real collectors over HTTP from the simulator, on SQLite (every
rendering) and PostgreSQL (the plain and the all-at-once ``world`` rendering).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from chargeline.config import ChargeSla, Settings
from chargeline.model import RunStatus
from collectors.runner import run_source
from metrics.compute import compute
from metrics.report_data import build_report
from metrics.stitching import FALLBACK_ISSUE_DAYS
from simulator.rendering import RENDERINGS
from store.engine import make_engine
from store.migrate import upgrade
from store.schema import inventory_transactions, usage_events
from tests.conftest import scratch_pg_database
from tests.metrics.truth_check import by_kind, expected, found, open_exceptions

HTTP_OFF = {"http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0, "timeout": 0.0}
# (seed, fault preset, facilities, window end): the second window holds New York's and
# Chicago's fall-back (2026-11-01), so a facility's offset changes inside it.
CASES = {
    "s5-high": (5, "high", 2, datetime(2026, 11, 20, tzinfo=UTC)),
    "s11-dst": (11, "default", 3, datetime(2026, 11, 2, 12, tzinfo=UTC)),
}
CLEAN = (9, "none", 2, datetime(2026, 11, 20, tzinfo=UTC))
ALL = tuple(RENDERINGS)
PG_RENDERINGS = ("plain", "world")
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


def _store_url(backend: str, tmp: Path, template: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / "rendering.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    with scratch_pg_database("chargeline_render") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _figures(engine: Engine, truth: dict[str, Any], sla: ChargeSla) -> dict[str, Any]:
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    as_of = datetime.fromisoformat(truth["as_of"].replace("Z", "+00:00"))
    doc = build_report(engine, sla, since=start, until=as_of)
    return {k: v for k, v in doc.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def outcomes(estate_factory: Any, tmp_path_factory: pytest.TempPathFactory,
             sqlite_template: Path) -> Iterator[Any]:
    """``get(backend, case, rendering) -> Outcome``, each collected and computed once."""
    cache: dict[tuple[str, Any, str], Outcome] = {}
    cleanups: list[Iterator[str]] = []

    def get(backend: str, case: tuple[int, str, int, datetime], rendering: str) -> Outcome:
        key = (backend, case, rendering)
        if key in cache:
            return cache[key]
        seed, preset, facilities, end = case
        running = estate_factory(seed=seed, facilities=facilities, faults=preset, end=end,
                                 rendering=rendering, **HTTP_OFF)
        stores = _store_url(backend, tmp_path_factory.mktemp("render"), sqlite_template)
        cleanups.append(stores)
        url = next(stores)
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
            rows = open_exceptions(engine)
            cache[key] = Outcome(
                truth, found(rows),
                {(r.kind, r.facility_id, r.subject): round(r.amount, 2) for r in rows},
                _figures(engine, truth, sla), *_scan_evidence(engine, running.estate))
        finally:
            engine.dispose()
        return cache[key]

    yield get
    for stores in cleanups:
        next(stores, None)


def _scan_evidence(engine: Engine, estate: Any) -> tuple[Any, ...]:
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


def _swaps(outcome: Outcome, missed: set[str], extra: set[str]) -> bool:
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


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for rendering in ALL:
            out.append(pytest.param("sqlite", case, rendering, id=f"sqlite-{case}-{rendering}"))
        for rendering in PG_RENDERINGS:
            out.append(pytest.param("postgresql", case, rendering,
                                    id=f"postgresql-{case}-{rendering}"))
    return out


def _assert_truth(outcome: Outcome) -> None:
    want = expected(outcome.truth)
    for kind in want:
        missed, extra = want[kind] - outcome.flagged[kind], outcome.flagged[kind] - want[kind]
        if kind == "missing_inventory_issue" and _swaps(outcome, missed, extra):
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


@pytest.mark.parametrize(("backend", "case", "rendering"), _params())
def test_every_rendering_finds_exactly_the_truth(outcomes: Any, backend: str, case: str,
                                                 rendering: str) -> None:
    _assert_truth(outcomes(backend, CASES[case], rendering))


@pytest.mark.parametrize(("backend", "case", "rendering"),
                         [p for p in _params() if p.values[2] != "plain"])
def test_every_rendering_gives_the_plain_renderings_figures(
        outcomes: Any, backend: str, case: str, rendering: str) -> None:
    plain = outcomes(backend, CASES[case], "plain")
    other = outcomes(backend, CASES[case], rendering)
    kind = "missing_inventory_issue"
    a, b = plain.flagged[kind], other.flagged[kind]
    swapped = a != b
    assert not swapped or _swaps(other, a - b, b - a), (sorted(a - b), sorted(b - a))
    assert {k: v for k, v in other.flagged.items() if k != kind} == \
        {k: v for k, v in plain.flagged.items() if k != kind}
    assert _dollars(other, swapped) == _dollars(plain, swapped)
    # Unreferenced issues of one item at one spot pair by nearness in time: where scans
    # come faster than the ERP issues, which delay belongs to which scan is unknowable
    # (metrics/README.md), so the issue-delay percentiles are exact only with the links.
    loose = swapped or RENDERINGS[rendering].issue_link_dropout > 0
    for section in plain.report:
        assert _comparable(other.report[section], loose) == \
            _comparable(plain.report[section], loose), section


def _dollars(outcome: Outcome, swapped: bool) -> dict[Any, float]:
    """$ per flagged record; with swapped scans, the missing issues' $ per facility."""
    if not swapped:
        return outcome.dollars
    out: dict[Any, float] = {}
    for (kind, facility, subject), usd in outcome.dollars.items():
        key = (kind, facility, "*" if kind == "missing_inventory_issue" else subject)
        out[key] = round(out.get(key, 0.0) + usd, 2)
    return out


def _comparable(value: Any, loose: bool) -> Any:
    """A report section; ``loose``: without the issue-delay percentiles."""
    if not loose or not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k == "posting_delay_p95_minutes" or (k == "inventory" and "p50" in (v or {})):
            continue
        out[k] = _comparable(v, loose)
    return out


def _problems(report: dict[str, Any]) -> dict[str, Any]:
    """Every count and $ of a problem in the report's network block."""
    net = report["network"]
    cc, inv = net["charge_capture"], net["inventory"]
    return {
        "missing": cc["missing"], "late": cc["late"], "unmapped": cc["unmapped"],
        "leakage": cc["revenue_leakage_usd"], "at_risk": cc["revenue_at_risk_usd"],
        **{f"fm_{k}": v["count"] for k, v in net["failed_mappings"].items()},
        "dup_groups": net["duplicates"]["groups"], "dup_usd": net["duplicates"]["overcharge_usd"],
        "missing_issues": inv["missing_issues"], "charged_not_issued": inv["charged_not_issued"],
        "issued_not_charged": inv["issued_not_charged"],
        "qty_mismatches": inv["quantity_mismatches"],
    }


@pytest.mark.parametrize(("backend", "rendering"),
                         [("sqlite", r) for r in ALL] + [("postgresql", "world")])
def test_a_clean_estate_reports_no_problem_in_any_rendering(
        outcomes: Any, backend: str, rendering: str) -> None:
    outcome = outcomes(backend, CLEAN, rendering)
    assert not outcome.truth["faults"]
    assert all(not keys for keys in outcome.flagged.values()), \
        {k: sorted(v, key=str)[:5] for k, v in outcome.flagged.items() if v}
    problems = _problems(outcome.report)
    assert all(not v for v in problems.values()), problems
    assert outcome.report["network"]["usage_events"] > 100
