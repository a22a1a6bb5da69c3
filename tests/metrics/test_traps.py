"""Every fault is found and no trap is reported, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from core.config import ChargeSla
from metrics.compute.exceptions import MAPPING_KINDS
from metrics.compute.run import compute
from store.schema_metrics import (
    metric_charge_facts,
    metric_duplicates,
    metric_exceptions,
    metric_links,
    metric_points,
    metric_usage_facts,
)
from store.upsert import upsert_records
from tests.metrics.factories import EXPECTED, T0, charge, master_data, trap_estate, usage

NOW = T0 + timedelta(days=2)


def _load(engine: Engine, records: list, minute: float = 0) -> None:
    with engine.begin() as conn:
        upsert_records(conn, records, source="test", now=T0 + timedelta(days=1, minutes=minute))


def _open_exceptions(engine: Engine) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for kind, subject in conn.execute(select(
                metric_exceptions.c.kind, metric_exceptions.c.subject).where(
                metric_exceptions.c.status == "open")):
            found.setdefault(kind, set()).add(subject)
    return found


def test_every_fault_found_and_no_trap_reported(engine: Engine) -> None:
    _load(engine, master_data() + trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    assert _open_exceptions(engine) == EXPECTED


def test_dollar_figures_and_duplicate_units(engine: Engine) -> None:
    _load(engine, master_data() + trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    with engine.connect() as conn:
        amounts = dict(conn.execute(select(metric_exceptions.c.exception_id,
                                           metric_exceptions.c.amount)).all())
        dups = dict(conn.execute(select(metric_duplicates.c.charge_id,
                                        metric_duplicates.c.dup_key)).all())
    assert amounts["missing_charge:FAC01:u7"] == 1250.0
    assert amounts["no_crosswalk:FAC01:IMP2"] == 300.0  # no CDM: quantity x item cost
    assert amounts["duplicate_charge:FAC01:c8a"] == 1250.0
    assert dups == {"c8b": "usage_id", "c15b": "serial"}


def test_link_methods_recorded(engine: Engine) -> None:
    _load(engine, master_data() + trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    with engine.connect() as conn:
        links = {(u, h, t): m for u, h, t, m in conn.execute(select(
            metric_links.c.usage_id, metric_links.c.hop, metric_links.c.target_id,
            metric_links.c.method))}
        charge_links = {c: (u, m) for c, u, m in conn.execute(select(
            metric_charge_facts.c.charge_id, metric_charge_facts.c.usage_id,
            metric_charge_facts.c.link_method))}
        inv = dict(conn.execute(select(metric_usage_facts.c.usage_id,
                                       metric_usage_facts.c.inv_method)).all())
    assert links[("u16", "charge", "c16")] == "control_id"
    assert links[("u17", "charge", "c17")] == "fallback"
    assert links[("u17", "inventory", "i17")] == "fallback"
    assert charge_links["c16"] == ("u16", "control_id")
    assert charge_links["c4b"] == ("u4", "usage_id")
    assert charge_links["c1"] == ("u1", "usage_id")
    assert charge_links["cz"] == ("", "")
    assert inv["u1"] == "usage_id" and inv["u17"] == "fallback" and inv["u13"] == ""


def test_out_of_order_charge_is_picked_up_incrementally(engine: Engine) -> None:
    _load(engine, master_data() + trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    assert "u7" in _open_exceptions(engine)["missing_charge"]
    # The charge for u7 arrives later, posted (long ago) within the SLA.
    _load(engine, [charge("c7", "C1", 105, amount=1250, uid="u7", used_minute=100)], 60)
    result = compute(engine, ChargeSla(), now=NOW)
    assert not result.full
    assert "missing_charge" not in _open_exceptions(engine)
    with engine.connect() as conn:
        status = conn.execute(select(metric_exceptions.c.status).where(
            metric_exceptions.c.exception_id == "missing_charge:FAC01:u7")).scalar_one()
        capture = conn.execute(select(metric_usage_facts.c.capture).where(
            metric_usage_facts.c.usage_id == "u7")).scalar_one()
    assert (status, capture) == ("resolved", "on_time")


def test_charge_after_the_window_is_pending_then_on_time(engine: Engine) -> None:
    # A consumable scanned near the end of the data: its charge is not due yet.
    _load(engine, [*master_data(), *trap_estate(), usage("u20", "CON1", 1990)])
    compute(engine, ChargeSla(), now=NOW)
    with engine.connect() as conn:
        first = conn.execute(select(metric_usage_facts.c.capture).where(
            metric_usage_facts.c.usage_id == "u20")).scalar_one()
    assert first == "pending" and "u20" not in _open_exceptions(engine).get(
        "missing_charge", set())
    # It posts after the window (live mode), within the 24 h consumable SLA.
    _load(engine, [charge("c20", "C2", 2100, amount=5, uid="u20", used_minute=1990)], 120)
    assert not compute(engine, ChargeSla(), now=NOW + timedelta(days=1)).full
    with engine.connect() as conn:
        later = conn.execute(select(metric_usage_facts.c.capture).where(
            metric_usage_facts.c.usage_id == "u20")).scalar_one()
    assert later == "on_time"
    assert _open_exceptions(engine) == EXPECTED


def test_pending_turns_missing_when_the_feed_moves_past_the_deadline(engine: Engine) -> None:
    _load(engine, [*master_data(), *trap_estate(), usage("u21", "IMP1", 1990, serial="S21")])
    compute(engine, ChargeSla(), now=NOW)
    assert "u21" not in _open_exceptions(engine).get("missing_charge", set())
    # Billing delivers a later charge elsewhere: the implant's 2 h deadline has passed.
    _load(engine, [charge("cy", "C2", 2200, amount=5, enc="ENC9")], 120)
    result = compute(engine, ChargeSla(), now=NOW + timedelta(days=1))
    assert not result.full and result.encounters >= 1
    assert "u21" in _open_exceptions(engine)["missing_charge"]


def _queue(engine: Engine) -> dict[str, tuple[str, frozenset[str], float, Any]]:
    e = metric_exceptions
    with engine.connect() as conn:
        return {r.exception_id: (r.status, frozenset(r.usage_ids.split(",")), r.amount,
                                 r.last_seen)
                for r in conn.execute(select(e).where(e.c.kind.in_(MAPPING_KINDS)))}


def test_failed_mappings_regrouped_by_the_subjects_a_pass_touches(engine: Engine) -> None:
    """An incremental pass regroups the failed mappings its usages name, before their
    facts are rebuilt (a subject they leave) and after (one they join), over all the
    subject's usages; one no usage of the pass names keeps its row as it was."""
    # NOPE-9's scan is ingested well before the rest (and the watermark's overlap).
    _load(engine, [*master_data(), usage("u31", "NOPE-9", 150, enc="ENC7")], -10)
    _load(engine, trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    before = _queue(engine)
    assert before["no_crosswalk:FAC01:IMP2"][:2] == ("open", frozenset({"u10"}))
    # u10's scan is corrected to an item with a crosswalk; a new scan of NOPE-1 (ENC1).
    _load(engine, [usage("u10", "IMP1", 141, serial="S10"), usage("u30", "NOPE-1", 144)], 60)
    later = NOW + timedelta(hours=1)
    assert not compute(engine, ChargeSla(), now=later).full
    after = _queue(engine)
    assert after["no_crosswalk:FAC01:IMP2"][0] == "resolved"
    assert after["unknown_item:FAC01:NOPE-1"][:2] == ("open", frozenset({"u9", "u30"}))
    assert after["unknown_item:FAC01:NOPE-1"][3] == later
    assert after["unknown_item:FAC01:NOPE-9"] == before["unknown_item:FAC01:NOPE-9"]
    # The same queue as a full pass gives (but for when each row was last recomputed).
    compute(engine, ChargeSla(), full=True, now=later)
    assert {k: v[:3] for k, v in _queue(engine).items()} == {k: v[:3] for k, v in after.items()}


def _duplicate_points(engine: Engine) -> set[tuple[Any, ...]]:
    mp = metric_points
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(
            mp.c.grain, mp.c.bucket, mp.c.location_id, mp.c.num, mp.c.den, mp.c.amount).where(
            mp.c.metric == "duplicates"))}


def test_a_reversed_extra_leaves_the_duplicate_points_of_its_hour(engine: Engine) -> None:
    """An incremental pass recomputes the hours its extras counted in before (a reversed
    extra is no duplicate any more) as well as after."""
    _load(engine, master_data() + trap_estate())
    compute(engine, ChargeSla(), now=NOW)
    hour = (T0 + timedelta(minutes=126)).replace(minute=0)  # c8b, the extra of u8
    assert any(p[:2] == ("hour", hour) for p in _duplicate_points(engine))
    _load(engine, [charge("c8r", "C1", 200, qty=-1, amount=-1250, uid="u8", reverses="c8b",
                          serial="S8", used_minute=120)], 60)
    assert not compute(engine, ChargeSla(), now=NOW).full
    after = _duplicate_points(engine)
    assert not any(p[:2] == ("hour", hour) for p in after)
    compute(engine, ChargeSla(), full=True, now=NOW)
    assert after == _duplicate_points(engine)
