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

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from simulator.rendering import RENDERINGS
from tests.metrics.rendering_check import (
    HTTP_OFF,
    Outcome,
    assert_truth,
    collect,
    store_url,
    swaps,
)

# (seed, fault preset, facilities, window end): the second window holds New York's and
# Chicago's fall-back (2026-11-01), so a facility's offset changes inside it.
CASES = {
    "s5-high": (5, "high", 2, datetime(2026, 11, 20, tzinfo=UTC)),
    "s11-dst": (11, "default", 3, datetime(2026, 11, 2, 12, tzinfo=UTC)),
}
CLEAN = (9, "none", 2, datetime(2026, 11, 20, tzinfo=UTC))
ALL = tuple(RENDERINGS)
PG_RENDERINGS = ("plain", "world")


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
        stores = store_url(backend, tmp_path_factory.mktemp("render"), sqlite_template)
        cleanups.append(stores)
        url = next(stores)
        cache[key] = collect(url, running)
        return cache[key]

    yield get
    for stores in cleanups:
        next(stores, None)


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for rendering in ALL:
            out.append(pytest.param("sqlite", case, rendering, id=f"sqlite-{case}-{rendering}"))
        for rendering in PG_RENDERINGS:
            out.append(pytest.param("postgresql", case, rendering,
                                    id=f"postgresql-{case}-{rendering}"))
    return out


@pytest.mark.parametrize(("backend", "case", "rendering"), _params())
def test_every_rendering_finds_exactly_the_truth(outcomes: Any, backend: str, case: str,
                                                 rendering: str) -> None:
    assert_truth(outcomes(backend, CASES[case], rendering))


@pytest.mark.parametrize(("backend", "case", "rendering"),
                         [p for p in _params() if p.values[2] != "plain"])
def test_every_rendering_gives_the_plain_renderings_figures(
        outcomes: Any, backend: str, case: str, rendering: str) -> None:
    plain = outcomes(backend, CASES[case], "plain")
    other = outcomes(backend, CASES[case], rendering)
    kind = "missing_inventory_issue"
    a, b = plain.flagged[kind], other.flagged[kind]
    swapped = a != b
    assert not swapped or swaps(other, a - b, b - a), (sorted(a - b), sorted(b - a))
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
