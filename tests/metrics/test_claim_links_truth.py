"""Claim lines link to exactly the charges the simulator's truth says, and remittance lines
to exactly the claim lines they pay, end to end on SQLite and PostgreSQL: a served estate
in the ``world`` rendering (local offsets; half the charges lose their links, so half the
FHIR Claim items come without their ChargeItem reference and are stitched by the
fallback) collected by the demo sources, then its 837 and 835 files by x12_files sources.
A usage's trace then reaches its remittance line, or says where the money stopped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collectors.runner import run_source
from core.config import ChargeSla, Settings, SourceConfig
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.claims import claim_line_links, remittance_links
from metrics.read.trace import trace
from simulator.sources import claims_source, remittance_source
from store.engine import make_engine
from store.schema import claims
from tests.metrics.rendering_check import HTTP_OFF, store_url


@dataclass(frozen=True)
class Collected:
    engine: Engine
    truth: dict[str, Any]
    estate: Any
    fhir_links: dict[tuple[str, int], Any]  # before the 837s: from FHIR Claim.item alone


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _run(url: str, engine: Engine, sources: list[SourceConfig]) -> None:
    settings = Settings(database_url=url, sources=sources)
    for source in sources:
        result = run_source(settings, engine, source, sleep=lambda _s: None)
        assert result is not None and result.status is RunStatus.OK, (source.name, result)


# (backend, seed): seed 7 on both stores, a second seed on SQLite
ESTATES = [("sqlite", 7), ("postgresql", 7), ("sqlite", 11)]


@pytest.fixture(scope="module", params=ESTATES, ids=lambda p: f"{p[0]}-seed{p[1]}")
def collected(request: pytest.FixtureRequest, estate_factory: Any, sqlite_template: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    backend, seed = request.param
    running = estate_factory(seed=seed, days=5, volume_scale=0.1, faults="default",
                             rendering="world", **HTTP_OFF)
    stores = store_url(backend, tmp_path_factory.mktemp("claims"), sqlite_template,
                       "chargeline_claims")
    url = next(stores)
    engine = make_engine(url)
    _run(url, engine, [SourceConfig(**s) for s in running.sources])
    truth = running.truth
    with engine.connect() as conn:
        fhir_links = claim_line_links(conn, [c["claim_id"] for c in truth["claims"]["items"]])
    _run(url, engine, [SourceConfig(**claims_source(running.out_dir)),
                       SourceConfig(**remittance_source(running.out_dir))])
    compute(engine, ChargeSla(**truth["sla"]), now=_iso(truth["as_of"]))
    yield Collected(engine, truth, running.estate, fhir_links)
    engine.dispose()
    next(stores, None)


def _want(truth: dict[str, Any]) -> dict[tuple[str, int], str]:
    return {(c["claim_id"], n): charge for c in truth["claims"]["items"]
            for n, charge in enumerate(c["charge_ids"], 1)}


def test_fhir_claim_lines_bill_exactly_the_truths_charges(collected: Collected) -> None:
    want = _want(collected.truth)
    assert len(want) > 300, "the estate billed too little to show anything"
    got = {key: link.charge_id for key, link in collected.fhir_links.items()}
    assert got == want
    methods = Counter(link.method for link in collected.fhir_links.values())
    # the world rendering dropped the ChargeItem reference of half the charges' lines
    assert set(methods) == {"charge_id", "fallback"} and methods["fallback"] > 50, methods


def test_after_the_837s_every_line_still_bills_its_charge_and_claims_keep_their_encounter(
        collected: Collected) -> None:
    truth = collected.truth
    ids = [c["claim_id"] for c in truth["claims"]["items"]]
    with collected.engine.connect() as conn:
        links = claim_line_links(conn, ids)
        encounters = dict(conn.execute(select(claims.c.claim_id, claims.c.encounter_id)).all())
    assert {key: link.charge_id for key, link in links.items()} == _want(truth)
    sent = {c["claim_id"] for c in truth["claims"]["items"] if c["in_837"]}
    assert sent and {link.method for key, link in links.items() if key[0] in sent} == {
        "line_control"}  # REF*6R: the charge id
    assert encounters == {c["claim_id"]: c["encounter_id"] for c in truth["claims"]["items"]}


def test_remittance_lines_pay_exactly_the_claim_lines_of_their_charges(
        collected: Collected) -> None:
    remitted = collected.truth["remittances"]["items"]
    assert len(remitted) >= 10
    with collected.engine.connect() as conn:
        links = remittance_links(conn, [r["claim_id"] for r in remitted])
        billed = claim_line_links(conn, [r["claim_id"] for r in remitted])
    got = {(link.claim_id, link.line_no): billed[link.claim_id, link.claim_line_no].charge_id
           for link in links}
    want = {(r["claim_id"], n): charge for r in remitted
            for n, charge in enumerate(r["charge_ids"], 1)}
    assert got == want
    by_method = Counter(link.method for link in links)
    without = sum(len(r["lines_without_control"]) for r in remitted)
    assert by_method["line_no"] == without > 0 and by_method["line_control"] == len(want) - without


def _usages(collected: Collected) -> dict[str, str]:
    """Usage -> its one charge, for scans with exactly one charge and no fault."""
    return {t.usage.usage_id: t.charges[0].charge_id for f in collected.estate.facilities
            for t in f.trails if len(t.charges) == 1 and not t.usage.fault}


def test_a_usage_is_traced_to_its_remittance_line_or_to_where_the_money_stopped(
        collected: Collected) -> None:
    truth = collected.truth
    claim_of = {charge: c["claim_id"] for c in truth["claims"]["items"]
                for charge in c["charge_ids"]}
    remitted = {r["claim_id"] for r in truth["remittances"]["items"]}
    usages = _usages(collected)
    paid = next(u for u, c in sorted(usages.items()) if claim_of.get(c) in remitted)
    waiting = next(u for u, c in sorted(usages.items())
                   if c in claim_of and claim_of[c] not in remitted)
    unbilled = next((u for u, c in sorted(usages.items()) if c not in claim_of), None)
    (t,) = trace(collected.engine, paid).traces
    line = next(h for h in t.hops if h.hop == "claim_line")
    assert (line.detail["charge"], line.detail["claim"]) == (usages[paid],
                                                             claim_of[usages[paid]])
    remittance = next(h for h in t.hops if h.hop == "remittance_line")
    assert remittance.detail["claim"] == claim_of[usages[paid]]
    assert remittance.detail["claim_line"] == line.detail["line"]
    assert t.billing_stopped_at == "" and remittance.status in ("paid", "denied")
    (w,) = trace(collected.engine, waiting).traces
    assert [h.hop for h in w.hops].count("claim_line") == 1
    assert w.billing_stopped_at == "remittance_line"
    if unbilled is not None:  # a charge posted after its encounter's claim was made
        (n,) = trace(collected.engine, unbilled).traces
        assert n.billing_stopped_at == "claim_line"


def test_a_claim_id_traces_every_usage_whose_charge_the_claim_bills(
        collected: Collected) -> None:
    truth = collected.truth
    owner = {t.charges[0].charge_id: t.usage.usage_id for f in collected.estate.facilities
             for t in f.trails if len(t.charges) == 1}
    claim = next(c for c in sorted(truth["claims"]["items"], key=lambda c: c["claim_id"])
                 if len(c["charge_ids"]) >= 2 and all(x in owner for x in c["charge_ids"]))
    result = trace(collected.engine, claim["claim_id"])
    assert result.kind == "claim"
    assert sorted(t.usage_id for t in result.traces) == sorted(
        owner[x] for x in claim["charge_ids"])
    for t in result.traces:  # each usage reaches a line of this claim
        assert any(h.hop == "claim_line" and h.detail["claim"] == claim["claim_id"]
                   for h in t.hops)
