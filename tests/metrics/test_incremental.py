"""Incremental passes give exactly what a full pass gives.

A collected demo estate is replayed into a second store in slices (master data first,
then the facts in four time slices, each ingested later than the one before), with an
incremental pass after each slice; every derived table must then equal a full recompute
of the same rows. Pending usages turn missing as later slices move the feed horizons,
late charges arrive after their usage, unreferenced issues meet their scans.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from core.config import ChargeSla
from metrics.compute.run import compute
from store.schema import FACT_TABLES, interface_messages, message_usages
from store.schema_metrics import (
    metric_billing_claims,
    metric_charge_facts,
    metric_claim_answers,
    metric_claim_encounters,
    metric_duplicates,
    metric_encounter_billing,
    metric_exceptions,
    metric_links,
    metric_points,
    metric_usage_facts,
    metric_usage_points,
)
from store.upsert import insert_ignore, upsert_rows

TIMED: dict[str, str] = {  # fact table -> the time that orders its rows into slices
    "usage_events": "used_at", "charges": "posted_at", "interface_messages": "received_at",
    "inventory_transactions": "posted_at", "replenishment_documents": "created_at",
    "channel_stats": "observed_at",
    # claims and the payer's answers arrive slice by slice too (their lines and
    # adjustments, loaded with the master data, wait for them): the pairs, billing inputs
    # and claim answers are redone by claim and encounter
    "claims": "created_at", "remittances": "paid_at",
}
DERIVED: list[tuple[Table, tuple[str, ...]]] = [
    (metric_usage_facts, ()), (metric_charge_facts, ()), (metric_duplicates, ()),
    (metric_links, ("at",)), (metric_usage_points, ()), (metric_points, ()),
    (metric_claim_answers, ()), (metric_claim_encounters, ()), (metric_encounter_billing, ()),
    (metric_billing_claims, ()),
]


def _rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def _snapshot(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    out = {}
    for table, skip in DERIVED:
        cols = [c for c in table.c if c.name not in skip]
        with engine.connect() as conn:
            out[table.name] = {tuple(round(v, 6) if isinstance(v, float) else v for v in r)
                               for r in conn.execute(select(*cols))}
    e = metric_exceptions  # the open queue (rows opened and resolved on the way stay)
    with engine.connect() as conn:
        out["open exceptions"] = {
            (r.exception_id, frozenset(r.usage_ids.split(",")),
             frozenset(r.charge_ids.split(",")), r.amount, r.detail)  # lists: any order
            for r in conn.execute(select(e).where(e.c.status == "open"))}
    return out


@pytest.mark.parametrize("rendering", ["plain", "world"])
def test_incremental_equals_full(estate_factory: Any, engine: Engine, tmp_path: Any,
                                 rendering: str) -> None:
    from collectors.runner import run_source
    from core.config import Settings
    from store.engine import make_engine
    from store.migrate import upgrade

    # world: the same estate with local offsets, half the links dropped, ERP posting lag,
    # unit prices: the fallback links must come out as a full pass makes them
    running = estate_factory(seed=5, faults="high", http_5xx=0.0, http_429=0.0,
                             truncated_json=0.0, timeout=0.0, channel_outage=1.0,
                             rendering=rendering)
    source_url = f"sqlite:///{tmp_path / 'collected.db'}"
    collected = make_engine(source_url)
    upgrade(collected)
    settings = Settings(database_url=source_url, sources=running.sources)
    for src in settings.sources:
        run_source(settings, collected, src, sleep=lambda _s: None)
    as_of = datetime.fromisoformat(running.truth["as_of"].replace("Z", "+00:00"))
    sla = ChargeSla()

    timed = {name: t for name, t in FACT_TABLES.items() if t.name in TIMED}
    master = [t for t in FACT_TABLES.values() if t.name not in TIMED]
    start = datetime.fromisoformat(running.truth["start"].replace("Z", "+00:00"))
    edges = [start + i * (as_of - start) / 4 for i in range(1, 4)] + [as_of + timedelta(1)]
    ingest = as_of + timedelta(hours=1)
    with engine.begin() as conn:
        for table in master:
            rows = [dict(r, ingested_at=ingest) for r in _rows(collected, table)]
            upsert_rows(conn, table, rows)
    compute(engine, sla, now=as_of)
    lo = start - timedelta(days=30)
    for i, hi in enumerate(edges):
        ingest += timedelta(minutes=5)
        with engine.begin() as conn:
            for table in timed.values():
                col = TIMED[table.name]
                rows = [dict(r, ingested_at=ingest) for r in _rows(collected, table)
                        if lo <= r[col] < hi]
                upsert_rows(conn, table, rows)
                if table is interface_messages:
                    keys = {(r["channel"], r["control_id"]) for r in rows}
                    insert_ignore(conn, message_usages, [
                        r for r in _rows(collected, message_usages)
                        if (r["channel"], r["control_id"]) in keys])
        result = compute(engine, sla, now=as_of)
        assert not result.full, f"slice {i} recomputed everything"
        lo = hi
    full = _assert_same_as_full(engine, sla, as_of)
    assert full["metric_duplicates"], "the estate exercised nothing"
    with engine.connect() as conn:  # billing outages held messages in some hours
        assert conn.execute(select(func.count()).select_from(metric_points).where(
            metric_points.c.metric == "msg_held")).scalar_one() > 0


def _assert_same_as_full(engine: Engine, sla: ChargeSla, now: datetime
                         ) -> dict[str, set[tuple[Any, ...]]]:
    incremental = _snapshot(engine)
    compute(engine, sla, full=True, now=now)
    full = _snapshot(engine)
    for name in full:
        missing, extra = full[name] - incremental[name], incremental[name] - full[name]
        assert not missing and not extra, (
            f"{name}: {len(missing)} rows only in the full pass, e.g. "
            f"{sorted(missing, key=str)[:2]}; {len(extra)} only in the incremental one, e.g. "
            f"{sorted(extra, key=str)[:2]}")
    return full


def test_incremental_equals_full_with_fallback_links(engine: Engine) -> None:
    """The benchmark generator loses usage references and issue references: control id
    and fallback links, reversal links and unreferenced issues across appended passes."""
    from bench.datagen import append, generate

    info = generate(engine, 3000, seed=11, facilities=2, days=3, feeds=False)
    sla = ChargeSla()
    now = info["end"] + timedelta(days=2)
    compute(engine, sla, now=now)
    for _ in range(3):
        info = append(engine, 400, base=info)
        result = compute(engine, sla, now=now)
        assert not result.full and result.encounters > 0
    full = _assert_same_as_full(engine, sla, now)
    methods = {row[3] for row in full["metric_links"]}  # hop, target, usage, method, ...
    assert {"control_id", "fallback"} <= methods, methods
    # each append bills its encounters and has their claims answered
    assert full["metric_claim_answers"] and full["metric_claim_encounters"]
    assert full["metric_billing_claims"]
    assert any(r[3] is not None for r in full["metric_encounter_billing"]), "none billed"



def test_incremental_equals_full_after_retention(engine: Engine) -> None:
    """Retention between passes (``metrics.compute.retention``): the incremental passes
    after it give what a full pass over the retained records gives, and the points of the
    hours before the cutoff stay as they were, through both."""
    from bench.datagen import append, generate
    from metrics.compute.retention import retain

    info = generate(engine, 3000, seed=17, facilities=2, days=6, feeds=False)
    sla = ChargeSla()
    now = info["end"] + timedelta(days=2)
    compute(engine, sla, now=now)
    cutoff = (info["start"] + timedelta(days=3)).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)

    def old_points() -> dict[str, set[tuple[Any, ...]]]:
        snap = _snapshot(engine)
        out = {}
        for table in (metric_usage_points, metric_points):
            at = [c.name for c in table.c].index("bucket")
            out[table.name] = {r for r in snap[table.name] if r[at] < cutoff}
        return out

    before = old_points()
    assert before["metric_usage_points"], "no points before the cutoff to keep"
    done = retain(engine, cutoff, batch=50, now=now)
    assert done.encounters > 0 and done.rows["usage_events"] > 0 and done.batches > 1
    for _ in range(2):
        info = append(engine, 400, base=info)
        result = compute(engine, sla, now=now)
        assert not result.full and result.encounters > 0
    assert old_points() == before
    full = _assert_same_as_full(engine, sla, now)
    assert old_points() == before  # a full pass keeps them too
    assert full["metric_usage_facts"] and full["metric_links"]
    assert full["metric_encounter_billing"] and full["metric_claim_answers"]
