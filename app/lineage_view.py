"""The system graph of ``metrics.lineage`` shaped for drawing (pure): flow edges coloured
by their health, each system coloured by its collectors (the ``collect`` edges), channels
by their own traffic, positions along the flow, and the drill-down behind each node."""

from __future__ import annotations

from dataclasses import dataclass, field

from metrics.lineage import LineageGraph, worst

DRILL = {"device_tracking": {"dataset": "usage"}, "ehr": {"dataset": "usage"},
         "billing": {"dataset": "capture", "problems": "true"},
         "erp": {"dataset": "inventory", "problems": "true"},
         "supplier": {"dataset": "replenishment"}, "engine": {"dataset": "messages"}}


@dataclass(frozen=True)
class Node:
    node_id: str
    label: str
    column: int  # left-to-right position in the flow
    health: str  # ok | degraded | down | unknown
    detail: str
    drill: dict[str, str] = field(default_factory=dict)  # drill-down query params


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    health: str
    label: str


def for_drawing(graph: LineageGraph) -> tuple[list[Node], list[Edge]]:
    """Nodes (without the store itself) and the flow edges between them."""
    collect: dict[str, list[tuple[str, str]]] = {}
    touching: dict[str, list[str]] = {}
    edges = []
    for e in graph.edges:
        if e.kind == "collect":
            collect.setdefault(e.source, []).append((e.health, f"{e.label}: {e.reason}"))
            continue
        edges.append(Edge(e.source, e.target, e.health,
                          e.reason if e.health != "ok" else e.label))
        for end in (e.source, e.target):
            touching.setdefault(end, []).append(e.health)
    nodes = []
    for n in graph.nodes:
        if n.kind == "store":
            continue
        if n.kind == "channel":
            health = worst(touching.get(n.node_id, ["unknown"]))
            detail = f"channel of facility {n.facility_id}" if n.facility_id else "channel"
            drill = {"dataset": "messages", "channel": n.label}
        else:
            found = collect.get(n.node_id, [])
            health = worst(h for h, _ in found) if found else "unknown"
            detail = "; ".join(r for _, r in found) or "no collector reads this system"
            drill = DRILL.get(n.node_id, {})
        nodes.append(Node(n.node_id, n.label, n.column, health, detail, dict(drill)))
    return nodes, edges


def layout(nodes: list[Node], edges: list[Edge]) -> dict[str, tuple[float, float]]:
    """Positions along the flow: the channels stacked in the engine's column under the
    engine itself, billing level with the channels that deliver to it, the ERP and the
    supplier below the channels so the scan -> ERP edge crosses no node."""
    channels = [n for n in nodes if n.node_id.startswith("channel:")]
    top = (len(channels) - 1) / 2.0
    pos = {n.node_id: (float(n.column), top - i) for i, n in enumerate(channels)}
    into_billing = [pos[e.source][1] for e in edges
                    if e.target == "billing" and e.source in pos]
    bottom = -top - 1.4
    for node in nodes:
        if node.node_id in pos:
            continue
        if node.node_id == "engine":
            y = top + 1.0
        elif node.node_id == "billing":
            y = sum(into_billing) / len(into_billing) if into_billing else top
        elif node.node_id in ("erp", "supplier"):
            y = bottom
        else:
            y = 0.0
        pos[node.node_id] = (float(node.column), y)
    return pos
