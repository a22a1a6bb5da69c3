"""The denial metrics are exactly the simulator's truth, end to end over real files: an
estate's 835 files written to disk, read through the real ``x12_files`` collector into
SQLite and PostgreSQL, and read back through the store reader and the report for the
whole window. Per facility and per payer: remitted claims, initially denied claims and
their CLP03 $ equal the truth's ``remittances`` totals; the denials by CARC equal the
truth's denied claims by group-reason (one CAS per service line, their $ the charge). The
simulator denies a claim on its first and only remittance, so initial denials are the
truth's denials; a clean estate (faults none) has none."""

from __future__ import annotations

from collections import defaultdict
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
from metrics.read.reader import StoreMetricReader
from metrics.read.report_data import build_report
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.files import write_estate_files
from simulator.sources import remittance_source
from store.engine import make_engine
from tests.metrics.rendering_check import store_url

# (seed, fault preset): two seeds with the default denials, one clean estate
ESTATES = [(7, "default"), (11, "default"), (7, "none")]
DAYS = 7
SECTION = {"facility": "facilities", "payer": "payers"}


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    since: datetime
    until: datetime


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module", params=[(b, *e) for b in ("sqlite", "postgresql")
                                        for e in ESTATES],
                ids=lambda p: f"{p[0]}-seed{p[1]}-{p[2]}")
def collected(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              sqlite_template: Path) -> Iterator[Collected]:
    backend, seed, preset = request.param
    config = EstateConfig(seed=seed, facilities=2, days=DAYS, end=_iso("2026-11-20T00:00Z"),
                          volume_scale=0.3, faults=FaultRates.preset(preset))
    estate = build_estate(config, progress=False)
    out = tmp_path_factory.mktemp("denials")
    write_estate_files(estate, out)
    stores = store_url(backend, tmp_path_factory.mktemp("store"), sqlite_template,
                       "chargeline_denials")
    url = next(stores)
    engine = make_engine(url)
    source = SourceConfig(**remittance_source(out))
    result = run_source(Settings(database_url=url, sources=[source]), engine, source,
                        sleep=lambda _s: None)
    assert result is not None and result.status is RunStatus.OK, result
    truth = estate.truth
    # the whole estate: every payment date lies in [start, as_of)
    yield Collected(engine, truth["remittances"], _iso(truth["start"]) - timedelta(days=2),
                    _iso(truth["as_of"]))
    engine.dispose()
    next(stores, None)


def _read(c: Collected, metric: str, *scope: str) -> dict[str, MetricValue]:
    values = StoreMetricReader(c.engine).values(metric, window=c.until - c.since,
                                                scope_keys=scope, now=c.until)
    assert all(v.status is ValueStatus.OK for v in values), values
    return {"/".join(v.scope[k] for k in scope): v for v in values}


def _expected(t: dict[str, Any]) -> tuple[int, int, float, float]:
    """(remitted claims, denied claims, charge $, denied $) of one truth total."""
    return t["claims"], t["denied_claims"], t["charge_usd"], t["denied_usd"]


def _got(count: MetricValue, usd: MetricValue) -> tuple[int, int, float, float]:
    return (int(count.detail["denominator"]), int(count.detail["numerator"]),
            round(usd.detail["denominator"], 2), round(usd.detail["numerator"], 2))


@pytest.mark.parametrize("key", ["facility", "payer"])
def test_initial_denials_per_facility_and_payer_are_the_truth(collected: Collected,
                                                              key: str) -> None:
    truth = collected.truth[f"by_{key}"]
    count = _read(collected, "denial_rate_count_pct", key)
    usd = _read(collected, "denial_rate_usd_pct", key)
    assert set(count) == set(usd) == set(truth) and truth
    for scope, t in truth.items():
        assert _got(count[scope], usd[scope]) == _expected(t), scope
        assert count[scope].amount == pytest.approx(t["denied_usd"], abs=0.005)
    network = _got(_read(collected, "denial_rate_count_pct")[""],
                   _read(collected, "denial_rate_usd_pct")[""])
    assert network == _expected(collected.truth)
    # one remittance per claim, none reversed: every initial denial is still open
    still = _read(collected, "denied_open_usd", key)
    for scope, t in truth.items():
        assert still[scope].value == pytest.approx(t["denied_usd"], abs=0.005), scope
        assert still[scope].detail["claims"] == t["denied_claims"]


def _truth_reasons(truth: dict[str, Any], key: str) -> dict[str, dict[str, float]]:
    """``[scope/]group-reason`` -> adjustments and $ of the truth's denied claims: a denied
    claim carries its CARC once on each service line, for the line's whole charge."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "usd": 0.0})
    for row in truth["items"]:
        if row["status"] != "4":
            continue
        carc = f"{row['denial']['group']}-{row['denial']['reason']}"
        r = out[f"{row[key + '_id']}/{carc}" if key else carc]
        r["count"] += len(row["charge_ids"])
        r["usd"] += row["charge"]
    return {k: {"count": v["count"], "usd": round(v["usd"], 2)} for k, v in out.items()}


@pytest.mark.parametrize("key", ["", "facility", "payer"])
def test_denials_by_carc_are_the_truths_group_reasons(collected: Collected, key: str) -> None:
    scope = (key, "carc") if key else ("carc",)
    count = _read(collected, "denial_reason_count", *scope)
    usd = _read(collected, "denial_reason_usd", *scope)
    want = _truth_reasons(collected.truth, key)
    assert {k: {"count": int(v.value or 0), "usd": round(usd[k].value or 0.0, 2)}
            for k, v in count.items()} == want
    assert bool(want) == (collected.truth["denied_claims"] > 0)


def test_the_reports_revenue_cycle_is_the_truth(collected: Collected) -> None:
    doc = build_report(collected.engine, ChargeSla(), since=collected.since,
                       until=collected.until)["revenue_cycle"]
    assert doc["errors"] == {}

    def block(t: dict[str, Any]) -> tuple[int, int, float, float]:
        return t["claims"], t["denied"], t["charges_usd"], t["denied_usd"]

    assert block(doc["network"]) == _expected(collected.truth)
    for key in ("facility", "payer"):
        got = {k: block(v) for k, v in doc[SECTION[key]].items()}
        assert got == {k: _expected(t) for k, t in collected.truth[f"by_{key}"].items()}
    want = _truth_reasons(collected.truth, "")
    assert doc["denial_reasons"] == {k: {"count": int(v["count"]), "usd": v["usd"]}
                                     for k, v in want.items()}


def test_a_rate_is_zero_exactly_where_the_truth_denied_nothing(collected: Collected) -> None:
    """On the clean estate (faults none) every facility reads 0 % and no reason; on the
    others a facility reads 0 % only where the truth denied none of its claims."""
    assert collected.truth["claims"] > 0
    rates = _read(collected, "denial_rate_count_pct", "facility")
    assert {f: v.value == 0.0 for f, v in rates.items()} == {
        f: not t["denied_claims"] for f, t in collected.truth["by_facility"].items()}
    reasons = _read(collected, "denial_reason_count", "carc")
    assert (reasons == {}) == (collected.truth["denied_claims"] == 0)
