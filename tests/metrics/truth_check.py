"""Comparable sets from a demo estate's ``truth.json`` and from the metric tables.

Each fault kind becomes a set of keys on both sides (usage ids, item ids, CDM codes, or
the charge ids of a duplicate group), so a test can assert precision and recall 1.0 with
one set equality, and dollar maps to compare exactly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from store.schema_metrics import metric_exceptions, metric_usage_facts

OPEN = ("open", "acknowledged", "investigating")
TRAPS = ("trap_reversal_recharge", "trap_distinct_scans", "trap_bx_conversion",
         "trap_charge_after_window", "trap_voided_recharge", "trap_issue_return")


def by_kind(truth: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fault in truth["faults"]:
        out[fault["kind"]].append(fault)
    return out


def expected(truth: dict[str, Any]) -> dict[str, set[Any]]:
    """Per reported kind, the keys the metrics must find (no more, no fewer)."""
    k = by_kind(truth)
    return {
        "missing_charge": {f["usage_id"] for f in k["missing_charge"]},
        "late_charge": {f["usage_id"] for f in k["late_charge"]},
        "missing_inventory_issue": {f["usage_id"] for f in k["missing_inventory_issue"]},
        "unknown_item": {f["usage_id"] for f in k["unknown_item"]},
        "unit_not_convertible": {f["usage_id"] for f in k["unit_not_convertible"]},
        "no_crosswalk": {(f["item_id"], u) for f in k["no_crosswalk"] for u in f["usage_ids"]},
        "cdm_without_hcpcs": {(f["cdm_code"], u) for f in k["cdm_without_hcpcs"]
                              for u in f["usage_ids"]},
        "duplicate_charge": {frozenset(f["charge_ids"]) for f in k["duplicate_charge"]},
        "quantity_mismatch": set(),
    }


def open_exceptions(engine: Engine) -> list[Any]:
    e = metric_exceptions
    with engine.connect() as conn:
        return list(conn.execute(select(e).where(e.c.status.in_(OPEN))))


def found(rows: list[Any]) -> dict[str, set[Any]]:
    """The same keys read back from the open exception queue."""
    out: dict[str, set[Any]] = {kind: set() for kind in expected({"faults": []})}
    for r in rows:
        usages = [u for u in r.usage_ids.split(",") if u]
        if r.kind in ("no_crosswalk", "cdm_without_hcpcs"):
            out[r.kind].update((r.subject, u) for u in usages)
        elif r.kind == "duplicate_charge":
            out[r.kind].add(frozenset([r.subject, *r.charge_ids.split(",")]))
        else:
            out.setdefault(r.kind, set()).update(usages)
    return out


def facts(engine: Engine) -> dict[str, Any]:
    f = metric_usage_facts
    with engine.connect() as conn:
        return {r.usage_id: r for r in conn.execute(select(f))}
