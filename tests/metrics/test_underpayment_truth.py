"""The underpayment metrics are exactly the simulator's truth, end to end over real files: an
estate's 835 files written to disk, read through the real ``x12_files`` collector into
SQLite and PostgreSQL, and judged against the contracts the simulator's payers pay by
(``simulator.payers.CONTRACTS``, configured as ``payer_contracts``). Per facility and per
payer: the judged lines, the underpaid lines and their $ equal the truth's ``underpayment``
totals; the drill-down lists exactly the truth's short lines with their expected, allowed
and paid $; nothing is overpaid; the payer without a contract is not judged; a clean estate
(faults none) has no underpayment. The remittances' one rendering, FHIR
ExplanationOfBenefit polled off the billing API instead of 835 files (``remittance:
fhir``), is judged the same, on SQLite and PostgreSQL; the other renderings of
tests/metrics/test_renderings.py vary the usage, charge and ERP feeds, not the payers'."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from collectors.runner import run_source
from core.config import ChargeSla, Settings, SourceConfig
from core.metric_values import MetricValue, ValueStatus
from core.model import RunStatus
from metrics.read.common import Read
from metrics.read.reader import StoreMetricReader
from metrics.read.report_data import build_report
from metrics.read.underpayment import underpaid_rows
from metrics.report import to_text
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.files import write_estate_files
from simulator.payers import BY_ID, payer_contracts
from simulator.rendering import Rendering
from simulator.server import serve_in_thread
from simulator.sources import demo_sources, remittance_source
from store.engine import make_engine
from tests.metrics.rendering_check import store_url

# (backend, seed, fault preset, how the payers send): two seeds with the default faults (a
# higher underpayment rate so every payer has some), one clean estate, from 835 files; the
# FHIR ExplanationOfBenefit rendering once per backend
ESTATES = [(b, *e) for b in ("sqlite", "postgresql")
           for e in ((7, "default", "x12"), (11, "default", "x12"), (7, "none", "x12"))] + [
    ("sqlite", 11, "default", "eob"), ("postgresql", 7, "default", "eob")]
EOB = Rendering(remittance="fhir")
UNCONTRACTED = sorted(set(BY_ID) - {c.payer_id for c in payer_contracts()})


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    since: datetime
    until: datetime


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _collect(url: str, source: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        config = SourceConfig(**source)
        result = run_source(Settings(database_url=url, sources=[config]), engine, config,
                            sleep=lambda _s: None)
        assert result is not None and result.status is RunStatus.OK, result
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=ESTATES, ids=lambda p: f"{p[0]}-seed{p[1]}-{p[2]}-{p[3]}")
def collected(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              sqlite_template: Path) -> Iterator[Collected]:
    backend, seed, preset, sent = request.param
    rates = FaultRates.preset(preset, **({"underpayment": 0.15} if preset != "none" else {}))
    config = EstateConfig(seed=seed, facilities=2, days=7, end=_iso("2026-11-20T00:00Z"),
                          volume_scale=0.3, faults=rates)
    estate = build_estate(config, progress=False)
    out = tmp_path_factory.mktemp("underpay")
    stores = store_url(backend, tmp_path_factory.mktemp("store"), sqlite_template,
                       "chargeline_underpay")
    url = next(stores)
    if sent == "x12":
        write_estate_files(estate, out)
        _collect(url, remittance_source(out))
    else:  # the billing API's ExplanationOfBenefit, as the store's only remittances
        write_estate_files(estate, out, rendering=EOB)
        with serve_in_thread(estate, freeze=False, rendering=EOB,
                             clock=lambda: estate.end_ms) as running:
            _collect(url, {**demo_sources(running.base_url, out, rendering=EOB)[0],
                           "page_size": 200})
    engine = make_engine(url)
    truth = estate.truth
    yield Collected(engine, truth["underpayment"], _iso(truth["start"]) - timedelta(days=2),
                    _iso(truth["as_of"]))
    engine.dispose()
    next(stores, None)


def _reader(c: Collected, contracts: bool = True) -> StoreMetricReader:
    settings = Settings(payer_contracts=payer_contracts() if contracts else [])
    return StoreMetricReader(c.engine, settings)


def _read(c: Collected, metric: str, *scope: str, contracts: bool = True
          ) -> dict[str, MetricValue]:
    values = _reader(c, contracts).values(metric, window=c.until - c.since,
                                          scope_keys=scope, now=c.until)
    return {"/".join(v.scope[k] for k in scope): v for v in values}


def _got(lines: MetricValue, usd: MetricValue) -> dict[str, Any]:
    return {"judged_lines": int(lines.detail["judged_lines"]),
            "underpaid_lines": int(lines.value or 0),
            "underpayment_usd": round(usd.value or 0.0, 2),
            "expected_usd": round(usd.detail["denominator"], 2)}


@pytest.mark.parametrize("key", ["facility", "payer"])
def test_underpayments_per_facility_and_payer_are_the_truth(collected: Collected,
                                                            key: str) -> None:
    truth = collected.truth[f"by_{key}"]
    lines = _read(collected, "underpaid_lines", key)
    usd = _read(collected, "underpayment_usd", key)
    judged = {k: v for k, v in lines.items() if v.status is ValueStatus.OK}
    assert set(judged) == set(truth) and truth
    for scope, t in truth.items():
        assert _got(lines[scope], usd[scope]) == t, scope
        assert lines[scope].amount == pytest.approx(t["underpayment_usd"], abs=0.005)
        assert lines[scope].detail["over_usd"] == 0.0  # the simulator never overpays
    network = _got(_read(collected, "underpaid_lines")[""],
                   _read(collected, "underpayment_usd")[""])
    assert network == {k: collected.truth[k] for k in network}


def test_a_payer_without_a_contract_is_not_judged(collected: Collected) -> None:
    lines = _read(collected, "underpaid_lines", "payer")
    assert UNCONTRACTED and any(p in lines for p in UNCONTRACTED)
    for payer in UNCONTRACTED:
        if payer in lines:
            v = lines[payer]
            assert v.status is ValueStatus.NODATA and v.detail["judged_lines"] == 0
            assert v.detail["not_judged_lines"] > 0
    # no contract configured at all: nothing is judged anywhere
    bare = _read(collected, "underpaid_lines", "facility", contracts=False)
    assert bare and all(v.status is ValueStatus.NODATA for v in bare.values())


def test_the_drill_down_lists_exactly_the_truths_short_lines(collected: Collected) -> None:
    read = Read("underpaid_lines", collected.until - collected.since, (), collected.until,
                contracts=tuple(payer_contracts()))
    with collected.engine.connect() as conn:
        rows = underpaid_rows(conn, read)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["claim_id"], r["line_no"], r["payer_id"], r["facility_id"])

    got = {key(r): (r["expected_usd"], round(r["allowed_usd"], 2), r["paid_usd"],
                    round(r["variance_usd"], 2)) for r in rows}
    want = {key(t): (t["expected"], t["allowed"], t["paid"], t["short"])
            for t in collected.truth["items"]}
    assert got == want
    assert [r["variance_usd"] for r in rows] == sorted((r["variance_usd"] for r in rows),
                                                       reverse=True)
    carcs = {key(t): t["carc"] for t in collected.truth["items"]}
    for r in rows:  # the CARC the payer cut it under is among the line's adjustments
        assert carcs[key(r)] in r["carcs"].split(", ")
    assert bool(want) == (collected.truth["underpaid_lines"] > 0)


def test_the_reports_underpayments_are_the_truth(collected: Collected) -> None:
    settings = Settings(payer_contracts=payer_contracts())
    doc = build_report(collected.engine, ChargeSla(), since=collected.since,
                       until=collected.until, settings=settings)
    under = doc["revenue_cycle"]["underpayments"]
    keys = ("judged_lines", "underpaid_lines", "underpayment_usd", "expected_usd")
    assert {k: under["network"][k] for k in keys} == {k: collected.truth[k] for k in keys}
    assert {f: {k: b[k] for k in keys} for f, b in under["facilities"].items()} == \
        collected.truth["by_facility"]
    judged = {p: {k: b[k] for k in keys} for p, b in under["payers"].items()
              if b["judged_lines"]}
    assert judged == collected.truth["by_payer"]
    text = to_text(doc)
    assert ("Underpaid" in text) == (collected.truth["judged_lines"] > 0)
    assert f"on {collected.truth['underpaid_lines']:,} of " \
        f"{collected.truth['judged_lines']:,} lines judged" in text
