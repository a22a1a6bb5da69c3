"""The system graph for the lineage page (pure): systems and engine channels as nodes,
the hops between them as edges, each coloured by its live health.

Node health comes from the collectors (a failing source is ``down``) and the channel
tree; edge health from the hop's own measure: channel health for scans into the engine,
charge capture for engine -> billing, inventory accuracy for scans -> ERP, replenishment
cycle for ERP -> supplier. Each node carries the drill-down that explains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from app.interfaces_view import worst

SYSTEM_KINDS = {"fhir_usage": "ehr", "fhir_billing": "billing", "odata_erp": "erp",
                "hl7_log": "engine", "engine_stats": "engine"}
TITLES = {"ehr": "EHR / device tracking", "engine": "Interface engine", "billing": "Billing (RCM)",
          "erp": "ERP supply chain", "supplier": "Supplier / replenishment"}


@dataclass(frozen=True)
class Node:
    node_id: str
    label: str
    column: int  # left-to-right position in the flow
    health: str
    detail: str
    drill: dict[str, str] = field(default_factory=dict)  # drill-down query params


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    health: str
    label: str


def system_of(source: str, kinds: Mapping[str, str]) -> str:
    """The system a collector source feeds (by its configured kind, else by its name)."""
    if source in kinds and kinds[source] in SYSTEM_KINDS:
        return SYSTEM_KINDS[kinds[source]]
    name = source.lower()
    for hint, system in (("bill", "billing"), ("rcm", "billing"), ("erp", "erp"),
                         ("ehr", "ehr"), ("usage", "ehr"), ("engine", "engine"),
                         ("hl7", "engine"), ("mirth", "engine")):
        if hint in name:
            return system
    return "other"


def pct_health(value: float | None, warn: float, fail: float) -> str:
    """Health of a percentage where higher is better."""
    if value is None:
        return "idle"
    return "down" if value < fail else "degraded" if value < warn else "ok"


def build_graph(freshness: pd.DataFrame, apis: pd.DataFrame, channels: pd.DataFrame,
                kinds: Mapping[str, str], capture: Mapping[str, float | None],
                inventory: Mapping[str, float | None],
                replenishment_h: float | None) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges of the estate, coloured by health.

    ``capture`` and ``inventory`` map facility -> KPI %; ``channels``, ``apis`` and
    ``freshness`` are the tables of ``interfaces_view`` (each with a ``health`` column).
    """
    by_system: dict[str, list[str]] = {}
    errors: dict[str, list[str]] = {}
    for row in freshness.itertuples():
        system = system_of(str(row.source), kinds)
        by_system.setdefault(system, []).append(str(row.health))
        if row.health == "down":
            errors.setdefault(system, []).append(f"{row.source}: {row.last_error or 'failing'}")
    for row in apis.itertuples():
        system = system_of(str(row.source), kinds)
        by_system.setdefault(system, []).append(str(row.health))
        if row.health != "ok":
            errors.setdefault(system, []).append(
                f"{row.endpoint}: {row.error_rate_pct:.1f} % errors, p95 {row.p95_ms:.0f} ms")
    nodes = []
    for system, column in (("ehr", 0), ("billing", 2), ("erp", 1), ("supplier", 2)):
        health = worst(by_system.get(system, [])) if system != "supplier" else "ok"
        detail = "; ".join(errors.get(system, [])) or (
            "collector runs ok" if system in by_system else "no collector for this system")
        drill = {"ehr": {"dataset": "usage"}, "billing": {"dataset": "capture"},
                 "erp": {"dataset": "inventory"}, "supplier": {"dataset": "replenishment"}}
        nodes.append(Node(system, TITLES[system], column, health, detail, drill[system]))
    edges: list[Edge] = []
    ordered = channels.sort_values("channel", key=lambda c: c.str.contains("ADT"), kind="stable")
    for row in ordered.itertuples():
        node_id = f"channel:{row.channel}"
        nodes.append(Node(node_id, str(row.channel), 1, str(row.health),
                          f"{row.received} received, {row.errored} errored, "
                          f"{row.queued} queued",
                          {"dataset": "messages", "channel": str(row.channel)}))
        nack = 0.0 if pd.isna(row.nack_rate_pct) else float(row.nack_rate_pct)
        edges.append(Edge("ehr", node_id, str(row.health),
                          f"NACK {nack:.1f} %, {row.errored} errored" if row.health != "ok"
                          else "scans → messages"))
        fac = str(row.facility_id)
        if "ADT" in str(row.channel).upper():
            edges.append(Edge(node_id, "billing", str(row.health), "ADT → encounters"))
        else:
            cap = capture.get(fac)
            edges.append(Edge(node_id, "billing", pct_health(cap, 95.0, 85.0),
                              f"capture {cap:.1f} %" if cap is not None else "no charges due"))
    inv_values = [v for v in inventory.values() if v is not None]
    inv = min(inv_values) if inv_values else None
    edges.append(Edge("ehr", "erp", pct_health(inv, 97.0, 90.0),
                      f"inventory accuracy {inv:.1f} %" if inv is not None else "no issues due"))
    repl = "idle" if replenishment_h is None else (
        "ok" if replenishment_h <= 48 else "degraded" if replenishment_h <= 96 else "down")
    edges.append(Edge("erp", "supplier", repl, f"cycle {replenishment_h:.1f} h"
                      if replenishment_h is not None else "no requisitions received"))
    return nodes, edges


def layout(nodes: list[Node]) -> dict[str, tuple[float, float]]:
    """Positions left to right along the flow: the EHR in the middle of the channels it
    feeds, billing level with the charge channels; the ERP (fed straight from the scans)
    below the channels and the supplier after it, so no edge crosses a node."""
    channels = [n for n in nodes if n.node_id.startswith("channel:")]
    top = (len(channels) - 1) / 2.0
    pos = {n.node_id: (1.0, top - i) for i, n in enumerate(channels)}
    charge = [pos[n.node_id][1] for n in channels if "ADT" not in n.label.upper()]
    bottom = -top - 1.4
    fixed = {"ehr": (0.0, 0.0), "billing": (2.0, sum(charge) / len(charge) if charge else top),
             "erp": (1.0, bottom), "supplier": (2.0, bottom)}
    for node in nodes:
        if node.node_id in fixed:
            pos[node.node_id] = fixed[node.node_id]
    return pos
