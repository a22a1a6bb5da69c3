"""Denials Chargeline saw coming are exactly the simulator's truth, end to end: a served
estate collected by the demo sources, then its 837 and 835 files by x12_files sources, the
metrics computed, and ``metrics.read.denial_causes.known_causes`` read over the whole
estate. The simulator denies every line billed from a CDM line without HCPCS (CO-16 M20,
or the claim's reason when it denied the claim whole) and marks it ``cause`` in its truth:
the lines found with cause ``cdm_without_hcpcs`` are exactly those (claim, line, charge),
on two seeds, SQLite and PostgreSQL, and in the ``world`` rendering (half the charges
without their links: the fallback still reaches the scan, and nothing is invented); a
clean estate (faults none) has none. The catalog metric per facility is their $."""

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
from core.metric_values import ValueStatus
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.denial_causes import KnownCauses, known_causes
from metrics.read.reader import StoreMetricReader
from simulator.sources import claims_source, remittance_source
from store.engine import make_engine
from tests.metrics.rendering_check import HTTP_OFF, store_url
from tests.metrics.truth_check import by_kind

# (backend, seed, faults, rendering)
ESTATES = [("sqlite", 7, "default", "plain"), ("sqlite", 11, "default", "plain"),
           ("postgresql", 7, "default", "plain"), ("sqlite", 7, "none", "plain"),
           ("sqlite", 7, "default", "world")]
CAUSE = "cdm_without_hcpcs"
# more CDM lines without HCPCS than the default 1 %: a small estate then bills dozens of
# such lines, some on claims denied whole for another reason
MORE = {"cdm_without_hcpcs": 0.08}


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    since: datetime
    until: datetime
    found: KnownCauses


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _run(url: str, engine: Engine, sources: list[SourceConfig]) -> None:
    settings = Settings(database_url=url, sources=sources)
    for source in sources:
        result = run_source(settings, engine, source, sleep=lambda _s: None)
        assert result is not None and result.status is RunStatus.OK, (source.name, result)


@pytest.fixture(scope="module", params=ESTATES, ids=lambda p: "-".join(map(str, p)))
def collected(request: pytest.FixtureRequest, estate_factory: Any, sqlite_template: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    backend, seed, faults, rendering = request.param
    running = estate_factory(seed=seed, facilities=2, days=7, volume_scale=0.1,
                             faults=faults, rendering=rendering, **HTTP_OFF,
                             **(MORE if faults == "default" else {}))
    stores = store_url(backend, tmp_path_factory.mktemp("causes"), sqlite_template,
                       "chargeline_causes")
    url = next(stores)
    engine = make_engine(url)
    _run(url, engine, [SourceConfig(**s) for s in running.sources])
    _run(url, engine, [SourceConfig(**claims_source(running.out_dir)),
                       SourceConfig(**remittance_source(running.out_dir))])
    truth = running.truth
    compute(engine, ChargeSla(**truth["sla"]), now=_iso(truth["as_of"]))
    # the whole estate: every payment date lies in [start, as_of)
    since, until = _iso(truth["start"]) - timedelta(days=2), _iso(truth["as_of"])
    with engine.connect() as conn:
        found = known_causes(conn, since, until)
    yield Collected(engine, truth, since, until, found)
    engine.dispose()
    next(stores, None)


def _truth_lines(truth: dict[str, Any]) -> dict[tuple[str, int, str], tuple[str, float]]:
    """(claim, line, charge) -> (facility, $) of every line the truth denied for a CDM line
    without HCPCS: a paid claim's denied lines and a claim denied whole's marked lines."""
    out = {}
    for item in truth["remittances"]["items"]:
        for x in item.get("denied_lines", []):
            if x["cause"] == CAUSE:
                out[(item["claim_id"], x["line_no"], x["charge_id"])] = (
                    item["facility_id"], x["amount"])
        for x in item.get("known_causes", []):
            assert x["cause"] == CAUSE
            out[(item["claim_id"], x["line_no"], x["charge_id"])] = (item["facility_id"], None)
    return out


def _found(c: Collected, cause: str = CAUSE) -> dict[tuple[str, int, str], Any]:
    return {(x.claim_id, x.line_no, x.charge_id): x for x in c.found.lines if x.cause == cause}


def test_lines_billed_without_hcpcs_are_exactly_the_truths(collected: Collected) -> None:
    want = _truth_lines(collected.truth)
    got = _found(collected)
    assert set(got) == set(want)
    for key, line in got.items():
        facility, usd = want[key]
        assert line.facility_id == facility and line.usage_id, key
        assert usd is None or float(line.billed_usd) == pytest.approx(usd, abs=0.005), key
        assert line.claim_line_no == key[1]  # the simulator's SVC lines are the claim's
    if collected.truth["remittances"]["denied_claims"] or collected.truth["remittances"][
            "denied_lines"]:
        assert collected.found.lines  # there are denied lines to judge at all


def test_the_default_estates_show_some_and_the_clean_one_none(collected: Collected) -> None:
    if collected.truth["faults"]:
        assert _found(collected), "the estate denied no line billed without HCPCS"
    else:  # faults none: no denial, so nothing seen coming
        assert collected.found.lines == () and collected.found.share_pct is None


def test_other_causes_are_only_what_the_facts_hold(collected: Collected) -> None:
    """Beside the HCPCS denials, a denied line is a duplicate only when its charge is a
    copy of a duplicate group the truth injected; the failed mappings the simulator
    injects besides (no crosswalk, unknown items) have no charge to bill."""
    copies = {cid for f in by_kind(collected.truth)["duplicate_charge"]
              for cid in f["charge_ids"]}
    for x in collected.found.known:
        assert x.cause in (CAUSE, "duplicate", "quantity_mismatch"), x
        if x.cause == "duplicate":
            assert x.charge_id in copies, x


def test_the_catalog_metric_per_facility_is_the_truths_dollars(collected: Collected) -> None:
    want: dict[str, float] = defaultdict(float)
    for (_claim, _line, _charge), line in _found(collected).items():
        want[line.facility_id] += float(line.billed_usd)
    values = StoreMetricReader(collected.engine).values(
        "denials_known_cause_usd", window=collected.until - collected.since,
        scope_keys=("facility",), now=collected.until, params={"cause": CAUSE})
    assert all(v.status is ValueStatus.OK for v in values), values
    got = {v.scope["facility"]: v.value for v in values if v.value}
    assert got == pytest.approx(dict(want), abs=0.01)
    total = sum(float(t.usd) for t in collected.found.by_cause())
    assert total == pytest.approx(float(collected.found.known_usd), abs=0.005)
