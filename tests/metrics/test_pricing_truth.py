"""Chargemaster drift and supply cost above contract are exactly the simulator's truth, end
to end: a week-long estate served over HTTP, collected by the real billing, EHR and ERP
collectors into SQLite and PostgreSQL, computed, and read back per facility, location and
window. The truth's ``pricing`` section (simulator.pricing_truth) lists every charge
billing posted off its CDM price (fault ``cdm_price_drift``) and every issue the ERP booked
above contract (fault ``cost_above_contract``) with its $; a clean estate has none. The
billing system that sends unit prices (rendering ``unit_price``, read with ``times:``)
gives the very same figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from collectors.runner import run_source
from core.config import ChargeSla, Settings
from core.metric_values import ValueStatus
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.report_data import build_report
from metrics.report import to_text
from store.engine import make_engine
from tests.metrics.rendering_check import store_url
from tests.simulator.walk import bearer, fhir_all

HTTP_OFF = {"http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0, "timeout": 0.0}
FAULTS = {"cdm_price_drift": 0.05, "cost_above_contract": 0.05}
# (seed, fault preset, overrides): two seeds with price faults, one clean estate
ESTATES = [(7, "default", FAULTS), (11, "default", FAULTS), (7, "none", {})]
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    as_of: datetime


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _collect(running: Any, url: str) -> Collected:
    engine = make_engine(url)
    settings = Settings(database_url=url, sources=running.sources)
    for src in settings.sources:
        result = run_source(settings, engine, src, sleep=lambda _s: None)
        assert result is not None and result.status is RunStatus.OK, result
    as_of = _instant(running.truth["as_of"])
    compute(engine, ChargeSla(**running.truth["sla"]), now=as_of)
    return Collected(engine, running.truth, as_of)


def _estate(factory: Any, seed: int, preset: str, overrides: dict[str, float],
            rendering: str = "plain") -> Any:
    return factory(seed=seed, facilities=2, days=7, faults=preset, volume_scale=0.1,
                   rendering=rendering, **HTTP_OFF, **overrides)


@pytest.fixture(scope="module", params=[(b, *e) for b in ("sqlite", "postgresql")
                                        for e in ESTATES],
                ids=lambda p: f"{p[0]}-seed{p[1]}-{p[2]}")
def collected(request: pytest.FixtureRequest, estate_factory: Any,
              tmp_path_factory: pytest.TempPathFactory,
              sqlite_template: Path) -> Iterator[Collected]:
    backend, seed, preset, overrides = request.param
    running = _estate(estate_factory, seed, preset, overrides)
    stores = store_url(backend, tmp_path_factory.mktemp("pricing"), sqlite_template,
                       "chargeline_pricing")
    found = _collect(running, next(stores))
    yield found
    found.engine.dispose()
    next(stores, None)


def _in(rows: list[dict[str, Any]], since: datetime, until: datetime) -> list[dict[str, Any]]:
    return [r for r in rows if since <= _instant(r["posted_at"]) < until]


def _windows(as_of: datetime) -> list[tuple[datetime, timedelta]]:
    """(now, window): the whole week, and two days ending a day before its end."""
    return [(as_of, 7 * DAY), (as_of - DAY, 2 * DAY)]


def test_cdm_drift_is_the_truths_drifted_charges(collected: Collected) -> None:
    truth = collected.truth["pricing"]["cdm_drift"]
    reader = StoreMetricReader(collected.engine)
    for now, window in _windows(collected.as_of):
        want = _in(truth, now - window, now)
        counts = {v.scope["facility"]: v for v in reader.values(
            "cdm_price_drift_count", window=window, scope_keys=("facility",), now=now)}
        usd = {v.scope["facility"]: v for v in reader.values(
            "cdm_price_drift_usd", window=window, scope_keys=("facility",), now=now)}
        assert set(counts) == set(usd) == set(collected.truth["facilities"])
        for fac in collected.truth["facilities"]:
            mine = [r for r in want if r["facility_id"] == fac]
            assert counts[fac].status is ValueStatus.OK and counts[fac].value == len(mine)
            assert counts[fac].detail["denominator"] > len(mine)
            assert usd[fac].value == pytest.approx(sum(abs(r["usd"]) for r in mine), abs=0.01)
            assert usd[fac].detail["net_usd"] == pytest.approx(sum(r["usd"] for r in mine),
                                                               abs=0.01)
            assert usd[fac].detail["over_usd"] == pytest.approx(
                sum(r["usd"] for r in mine if r["usd"] > 0), abs=0.01)
        [network] = reader.values("cdm_price_drift_count", window=window, scope_keys=(),
                                  now=now)
        assert network.value == len(want)
        assert network.amount == pytest.approx(sum(abs(r["usd"]) for r in want), abs=0.01)


def test_supply_cost_above_contract_is_the_truths_issues(collected: Collected) -> None:
    truth = collected.truth["pricing"]["above_contract"]
    reader = StoreMetricReader(collected.engine)
    for now, window in _windows(collected.as_of):
        want = _in(truth, now - window, now)
        by_loc = {(v.scope["facility"], v.scope["location"]): v for v in reader.values(
            "supply_cost_above_contract_usd", window=window,
            scope_keys=("facility", "location"), now=now)}
        for key, v in by_loc.items():
            mine = [r for r in want if (r["facility_id"], r["location_id"]) == key]
            assert v.status is ValueStatus.OK, key
            assert v.value == pytest.approx(sum(r["usd"] for r in mine), abs=0.01), key
            assert v.detail["numerator"] == len(mine), key
        assert {(r["facility_id"], r["location_id"]) for r in want} <= set(by_loc)
        counts = {v.scope["facility"]: v for v in reader.values(
            "supply_cost_above_contract_count", window=window, scope_keys=("facility",),
            now=now)}
        for fac in collected.truth["facilities"]:
            mine = [r for r in want if r["facility_id"] == fac]
            assert counts[fac].value == len(mine), fac
            assert counts[fac].amount == pytest.approx(sum(r["usd"] for r in mine), abs=0.01)


def test_faults_are_found_and_a_clean_estate_has_none(collected: Collected) -> None:
    pricing, rates = collected.truth["pricing"], collected.truth["fault_rates"]
    reader = StoreMetricReader(collected.engine)
    values = reader.many(["cdm_price_drift_count", "supply_cost_above_contract_count"],
                         window=7 * DAY, scope_keys=(), now=collected.as_of)
    [drift], [supply] = values["cdm_price_drift_count"], values[
        "supply_cost_above_contract_count"]
    assert drift.status is supply.status is ValueStatus.OK
    if rates["cdm_price_drift"] == 0:
        assert pricing == {"cdm_drift": [], "above_contract": []}
        assert (drift.value, supply.value) == (0, 0)
    else:  # at 5 % of some 2,400 charges and 3,000 issues, dozens of each
        assert drift.value >= 20 and supply.value >= 20
        assert {r["usd"] > 0 for r in pricing["cdm_drift"]} == {True, False}


def test_the_report_shows_both_per_facility(collected: Collected) -> None:
    pricing = collected.truth["pricing"]
    doc = build_report(collected.engine, ChargeSla(), since=collected.as_of - 7 * DAY,
                       until=collected.as_of)
    block = doc["revenue_cycle"]["pricing"]
    for fac in collected.truth["facilities"]:
        drift = [r for r in pricing["cdm_drift"] if r["facility_id"] == fac]
        above = [r for r in pricing["above_contract"] if r["facility_id"] == fac]
        got = block["facilities"][fac]
        assert got["cdm_drift_charges"] == len(drift)
        assert got["cdm_drift_usd"] == pytest.approx(sum(abs(r["usd"]) for r in drift),
                                                     abs=0.01)
        assert got["above_contract_issues"] == len(above)
        assert got["above_contract_usd"] == pytest.approx(sum(r["usd"] for r in above),
                                                          abs=0.01)
    text = to_text(doc)
    assert any(ln.strip().startswith("Chargemaster drift") for ln in text.splitlines())
    assert any(ln.strip().startswith("Supply cost above contract") for ln in text.splitlines())


def test_unit_prices_give_the_same_figures(estate_factory: Any,
                                           tmp_path_factory: pytest.TempPathFactory,
                                           sqlite_template: Path) -> None:
    """Metamorphic: the same estate with billing sending unit prices (read with
    ``times: quantity.value``) gives the same drift, to the cent, as line totals."""
    seed, preset, overrides = ESTATES[0]
    figures = {}
    for rendering in ("plain", "unit_price"):
        running = _estate(estate_factory, seed, preset, overrides, rendering)
        if rendering == "unit_price":  # it really sends the price of one unit
            drifted = {r["charge_id"]: r for r in running.truth["pricing"]["cdm_drift"]
                       if r["quantity"] > 1}
            assert drifted
            with httpx.Client(base_url=running.base_url,
                              headers=bearer(running.base_url)) as client:
                served = {c["id"]: c for c in fhir_all(client, "ChargeItem")}
            for cid, r in drifted.items():
                assert served[cid]["priceOverride"]["value"] == pytest.approx(r["unit_price"])
        stores = store_url("sqlite", tmp_path_factory.mktemp(f"pricing-{rendering}"),
                           sqlite_template, "chargeline_pricing")
        found = _collect(running, next(stores))
        reader = StoreMetricReader(found.engine)
        values = reader.many(["cdm_price_drift_count", "cdm_price_drift_usd",
                              "supply_cost_above_contract_usd"], window=7 * DAY,
                             scope_keys=("facility",), now=found.as_of)
        figures[rendering] = {(m, v.scope["facility"]): (v.value, v.amount, v.detail)
                              for m, vs in values.items() for v in vs}
        found.engine.dispose()
    assert figures["plain"] and figures["unit_price"] == figures["plain"]
