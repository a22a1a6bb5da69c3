"""Encounter reconciliation is exactly the simulator's truth, end to end: a week-long
estate served over HTTP and its 835 files on disk, collected by the real billing, EHR,
ERP, HL7-log and X12 collectors into SQLite and PostgreSQL, computed, and read back per
facility. The truth's ``reconciliation`` section (simulator.reconciliation_truth) tells
from what the estate injected — charges never posted or unpriceable (missing_charge,
no_crosswalk, unit_not_convertible), encounters billing held (dnfb_hold), claims the
payers denied (claim_denial), claims no 835 answers past the allowance — which encounters
are judged, which reconciled and each gap's $ and age; the metric must say exactly that,
on two seeds, three renderings (local offsets; charges without their usage links; all of
the variants at once, ``world``) and a clean estate (everything judged reconciled, no
gap)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from collectors.runner import run_source
from core.config import ChargeSla, Settings
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.reconciliation import GAP_KINDS, reconcile
from metrics.read.report_data import build_report
from metrics.report import to_text
from simulator.reconciliation_truth import reconciliation_truth
from simulator.sources import remittance_source
from store.engine import make_engine
from tests.metrics.rendering_check import store_url

HTTP_OFF = {"http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0, "timeout": 0.0}
# a high share of each gap, so a week holds several of every kind
GAPS = {"dnfb_hold": 0.15, "claim_denial": 0.15, "missing_charge": 0.02}
# (backend, seed, fault preset, overrides, rendering)
ESTATES = [
    ("sqlite", 7, "default", GAPS, "plain"),
    ("sqlite", 11, "default", GAPS, "plain"),
    ("sqlite", 7, "default", GAPS, "local"),
    ("sqlite", 7, "default", GAPS, "unlinked"),
    ("sqlite", 11, "default", GAPS, "world"),
    ("sqlite", 7, "none", {}, "plain"),
    ("postgresql", 7, "default", GAPS, "plain"),
    ("postgresql", 7, "none", {}, "plain"),
    ("postgresql", 11, "default", GAPS, "world"),
]
EVERYTHING = timedelta(days=365)  # every judged discharge of the estate
SHORT_ALLOWANCE = 3  # days: a week's estate has claims no 835 answered by then


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    estate: Any
    as_of: datetime


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module", params=ESTATES,
                ids=lambda p: f"{p[0]}-seed{p[1]}-{p[2]}-{p[4]}")
def collected(request: pytest.FixtureRequest, estate_factory: Any,
              tmp_path_factory: pytest.TempPathFactory,
              sqlite_template: Path) -> Iterator[Collected]:
    backend, seed, preset, overrides, rendering = request.param
    running = estate_factory(seed=seed, facilities=2, days=7, faults=preset, volume_scale=0.1,
                             rendering=rendering, **HTTP_OFF, **overrides)
    stores = store_url(backend, tmp_path_factory.mktemp("recon"), sqlite_template,
                       "chargeline_recon")
    url = next(stores)
    engine = make_engine(url)
    sources = [*running.sources, remittance_source(running.out_dir)]
    settings = Settings(database_url=url, sources=sources)
    for src in settings.sources:
        result = run_source(settings, engine, src, sleep=lambda _s: None)
        assert result is not None and result.status is RunStatus.OK, result
    as_of = _iso(running.truth["as_of"])
    compute(engine, ChargeSla(**running.truth["sla"]), now=as_of)
    yield Collected(engine, running.truth, running.estate, as_of)
    engine.dispose()
    next(stores, None)


def _found(c: Collected, remit_days: int) -> dict[str, Any]:
    hold = timedelta(days=c.truth["reconciliation"]["hold_days"])
    with c.engine.connect() as conn:
        return {f.facility_id: f for f in reconcile(conn, c.as_of, EVERYTHING, hold,
                                                    timedelta(days=remit_days))}


def _assert_same(found: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(found) == set(want["facilities"])
    for fid, w in want["facilities"].items():
        f = found[fid]
        assert f.horizon == _iso(w["horizon"]), fid
        assert (f.judged, f.reconciled) == (w["judged"], w["reconciled"]), fid
        for kind in GAP_KINDS:
            got = {g.encounter_id: g for g in f.gaps[kind]}
            rows = {g["encounter_id"]: g for g in w["gaps"][kind]}
            assert sorted(got) == sorted(rows), (fid, kind)
            for eid, g in rows.items():
                assert got[eid].usd == pytest.approx(g["usd"], abs=0.011), (fid, kind, eid)
                assert got[eid].opened_at == _iso(g["opened_at"]), (fid, kind, eid)
                assert got[eid].days_outstanding == pytest.approx(g["days_outstanding"],
                                                                  abs=1e-3), (fid, kind, eid)


def test_the_gaps_are_exactly_the_truths(collected: Collected) -> None:
    truth = collected.truth["reconciliation"]
    _assert_same(_found(collected, truth["remit_days"]), truth)


def test_a_short_payer_allowance_finds_the_claims_not_answered_yet(
        collected: Collected) -> None:
    as_of = int(collected.as_of.timestamp() * 1000)
    want = reconciliation_truth(collected.estate, as_of, remit_days=SHORT_ALLOWANCE)
    _assert_same(_found(collected, SHORT_ALLOWANCE), want)
    if collected.truth["fault_rates"]["dnfb_hold"] == 0:
        return
    unanswered = {g["encounter_id"] for f in want["facilities"].values()
                  for g in f["gaps"]["payment"]} - {
        g["encounter_id"] for f in collected.truth["reconciliation"]["facilities"].values()
        for g in f["gaps"]["payment"]}
    assert unanswered, "a 3-day allowance leaves claims of the last days unanswered"


def test_the_metric_reads_the_rate_per_facility_and_network(collected: Collected) -> None:
    truth = collected.truth["reconciliation"]["facilities"]
    reader = StoreMetricReader(collected.engine)
    got = {v.scope["facility"]: v for v in reader.values(
        "encounter_reconciliation_pct", window=EVERYTHING, scope_keys=("facility",),
        now=collected.as_of)}
    assert set(got) == set(truth)
    for fid, want in truth.items():
        v = got[fid]
        assert v.detail["denominator"] == want["judged"] > 0, fid
        assert v.detail["numerator"] == want["reconciled"], fid
        assert v.value == pytest.approx(100.0 * want["reconciled"] / want["judged"],
                                        abs=1e-4), fid
        for kind in GAP_KINDS:
            assert v.detail[f"{kind}_gap"] == len(want["gaps"][kind]), (fid, kind)
    network = reader.values("encounter_reconciliation_pct", window=EVERYTHING, scope_keys=(),
                            now=collected.as_of)
    judged = sum(t["judged"] for t in truth.values())
    reconciled = sum(t["reconciled"] for t in truth.values())
    assert len(network) == 1
    assert network[0].value == pytest.approx(100.0 * reconciled / judged, abs=1e-4)


def test_every_kind_is_found_and_a_clean_estate_is_reconciled(collected: Collected) -> None:
    truth = collected.truth["reconciliation"]["facilities"]
    counts = {kind: sum(len(t["gaps"][kind]) for t in truth.values()) for kind in GAP_KINDS}
    if collected.truth["fault_rates"]["missing_charge"] == 0:
        assert counts == dict.fromkeys(GAP_KINDS, 0)
        assert all(t["reconciled"] == t["judged"] > 0 for t in truth.values())
    else:
        assert all(counts.values()), counts


def test_the_report_says_it_per_facility_and_network(collected: Collected) -> None:
    truth = collected.truth["reconciliation"]["facilities"]
    doc = build_report(collected.engine, ChargeSla(), since=collected.as_of - EVERYTHING,
                       until=collected.as_of)
    rec = doc["revenue_cycle"]["reconciliation"]
    assert {f: (b["judged"], b["reconciled"], b["charge_gap"], b["claim_gap"],
                b["payment_gap"]) for f, b in rec["facilities"].items()} == {
        f: (t["judged"], t["reconciled"], *(len(t["gaps"][k]) for k in GAP_KINDS))
        for f, t in truth.items()}
    assert rec["network"]["judged"] == sum(t["judged"] for t in truth.values())
    text = to_text(doc)
    for fac, t in truth.items():
        line = next(ln for ln in text.splitlines()
                    if ln.strip().startswith(f"Reconciled {fac}"))
        assert f"of {t['judged']:,} encounters posted, claimed and paid" in line, line

