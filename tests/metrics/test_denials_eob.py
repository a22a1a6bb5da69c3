"""The denial metrics are the same whether the payers send 835 files or FHIR
ExplanationOfBenefit, and both are the simulator's truth.

One estate, three stores: its 835 files read by the ``x12_files`` collector; its EOBs
polled from the served billing API by the demo's ``fhir_billing`` source (a rendering
with ``remittance: fhir``), paged (50 a page) and incremental (a first pass with the
server's clock three days before the end, a second at the end); and both sources into
one store — a claim payment that arrives both ways is one remittance (the same
remittance_id), never counted twice. Every denial metric, per network, facility, payer
and CARC, reads the same in the three, and the EOB store passes the truth checks of
tests/metrics/test_denials_truth.py. SQLite on two seeds (one written in the facilities'
local times) and a clean estate, PostgreSQL once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from collectors.runner import run_source
from core.config import Settings, SourceConfig
from core.model import RunStatus
from metrics.read.reader import StoreMetricReader
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.files import write_estate_files
from simulator.rendering import RENDERINGS, Rendering
from simulator.server import serve_in_thread
from simulator.sources import demo_sources, remittance_source
from simulator.timefmt import DAY
from store.engine import make_engine
from store.schema import quarantined_records, remittance_adjustments, remittance_lines, remittances
from tests.metrics import test_denials_truth as truth_checks
from tests.metrics.rendering_check import store_url

# the payers send EOBs; on seed 11 every facility's systems also write local times
EOB = {"plain": Rendering(remittance="fhir"),
       "local": Rendering(**{**RENDERINGS["local"].model_dump(), "remittance": "fhir"})}
ESTATES = [("sqlite", 7, "default", "plain"), ("sqlite", 11, "default", "local"),
           ("sqlite", 7, "none", "plain"), ("postgresql", 7, "default", "plain")]
# every denial metric, by each scope the reader offers it in
READS = [(m, s) for m in ("denial_rate_count_pct", "denial_rate_usd_pct", "denied_open_usd")
         for s in ((), ("facility",), ("payer",))] + [
    (m, s) for m in ("denial_reason_count", "denial_reason_usd")
    for s in (("carc",), ("facility", "carc"), ("payer", "carc"))]


@dataclass
class Stores:
    x12: truth_checks.Collected
    eob: truth_checks.Collected
    both: truth_checks.Collected
    remittances: int  # claim payments the estate's files hold by its end
    first_pass: int  # remittances the EOB store held after its first pass


def _collect(url: str, sources: list[dict[str, Any]]) -> None:
    engine = make_engine(url)
    try:
        configs = [SourceConfig(**s) for s in sources]
        settings = Settings(database_url=url, sources=configs)
        for source in configs:
            result = run_source(settings, engine, source, sleep=lambda _s: None)
            assert result is not None and result.status is RunStatus.OK, result
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=ESTATES,
                ids=lambda p: f"{p[0]}-seed{p[1]}-{p[2]}-{p[3]}")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           sqlite_template: Path) -> Iterator[Stores]:
    backend, seed, preset, rendering_name = request.param
    rendering = EOB[rendering_name]
    config = EstateConfig(seed=seed, facilities=2, days=truth_checks.DAYS,
                          end=truth_checks._iso("2026-11-20T00:00Z"), volume_scale=0.3,
                          faults=FaultRates.preset(preset))
    estate = build_estate(config, progress=False)
    out = tmp_path_factory.mktemp("denials-eob")
    write_estate_files(estate, out, rendering=rendering)
    clock = {"ms": estate.end_ms - 3 * DAY}
    generators, engines = [], []
    with serve_in_thread(estate, freeze=False, rendering=rendering, timeout_fault_seconds=1.0,
                         clock=lambda: clock["ms"]) as running:
        billing = {**demo_sources(running.base_url, out, rendering=rendering)[0],
                   "page_size": 50}
        x12 = remittance_source(out)
        sources = {"x12": [x12], "eob": [billing], "both": [billing, x12]}
        urls = {}
        for name in sources:
            generators.append(store_url(backend, tmp_path_factory.mktemp(f"store-{name}"),
                                        sqlite_template, f"chargeline_eob_{name}"))
            urls[name] = next(generators[-1])
        # the EOB stores poll twice: three days before the end, then at the end
        _collect(urls["eob"], [billing])
        _collect(urls["both"], [billing])
        early = make_engine(urls["eob"])
        first_pass = _counts(early)[0]
        early.dispose()
        clock["ms"] = estate.end_ms
        for name, polled in sources.items():
            _collect(urls[name], polled)
    truth = estate.truth["remittances"]
    since = truth_checks._iso(estate.truth["start"]) - timedelta(days=2)
    until = truth_checks._iso(estate.truth["as_of"])
    collected = {}
    for name, url in urls.items():
        engine = make_engine(url)
        engines.append(engine)
        collected[name] = truth_checks.Collected(engine, truth, since, until)
    yield Stores(collected["x12"], collected["eob"], collected["both"], truth["claims"],
                 first_pass)
    for engine in engines:
        engine.dispose()
    for generator in generators:
        next(generator, None)


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (remittances, remittance_lines, remittance_adjustments,
                               quarantined_records))


def _figures(c: truth_checks.Collected) -> dict[str, Any]:
    out = {}
    for metric, scope in READS:
        values = StoreMetricReader(c.engine).values(metric, window=c.until - c.since,
                                                    scope_keys=scope, now=c.until)
        out[f"{metric}/{'+'.join(scope)}"] = sorted(
            (tuple(sorted(v.scope.items())), v.status.value, v.value, v.amount,
             tuple(sorted((k, str(d)) for k, d in (v.detail or {}).items())))
            for v in values)
    return out


def test_the_stores_hold_one_remittance_per_claim_payment(stores: Stores) -> None:
    x12, eob, both = (_counts(s.engine) for s in (stores.x12, stores.eob, stores.both))
    assert x12[0] == stores.remittances > 0
    assert x12 == eob == both  # nothing quarantined, nothing twice
    if stores.remittances > 20:  # the first pass saw what was published by its clock
        assert 0 < stores.first_pass < stores.remittances


def test_the_denial_metrics_read_the_same_from_835_and_eob(stores: Stores) -> None:
    from_835 = _figures(stores.x12)
    assert _figures(stores.eob) == from_835
    assert _figures(stores.both) == from_835


@pytest.mark.parametrize("key", ["facility", "payer"])
def test_the_eob_store_is_the_truth(stores: Stores, key: str) -> None:
    truth_checks.test_initial_denials_per_facility_and_payer_are_the_truth(stores.eob, key)
    truth_checks.test_denials_by_carc_are_the_truths_group_reasons(stores.eob, key)
    truth_checks.test_a_rate_is_zero_exactly_where_the_truth_denied_nothing(stores.eob)
    truth_checks.test_the_reports_revenue_cycle_is_the_truth(stores.eob)
