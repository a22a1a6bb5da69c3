"""The system graph of ``metrics.lineage.graph`` shaped for drawing (pure): flow edges coloured
by their health, each system coloured by its collectors (the ``collect`` edges), channels
by their own traffic, each channel in its facility's group inside the engine's, a layered
layout (``app.shaping.lineage_layout``), and the drill-down behind each node and edge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.shaping.lineage_layout import Layout, layered
from metrics.lineage.graph import LineageGraph, worst

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
    group: tuple[str, ...] = ()  # ("engine", facility) for a channel: boxed together
    facility_id: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    health: str
    label: str
    drill: dict[str, str] = field(default_factory=dict)  # the records behind the hop


ENGINE = "engine"  # drawn as the box around its channels, not as a node of the flow


def edge_drill(source: Node | None, target: Node | None, health: str) -> dict[str, str]:
    """The records behind one hop: a channel's own messages (its errored ones when the
    hop into it is failing), else the records of the system the hop delivers to."""
    if target is not None and target.group:  # EHR -> channel: what the channel received
        errored = {"status": "E"} if health in ("degraded", "down") else {}
        return {**target.drill, **errored}
    if source is not None and source.group:  # channel -> destination: the channel's sends
        return dict(source.drill)
    return dict(target.drill) if target is not None else {}


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
            # a channel is (facility, name): another facility's DFT_OUT is not its records
            drill = {"dataset": "messages", "channel": n.label,
                     **({"facility": n.facility_id} if n.facility_id else {})}
            group: tuple[str, ...] = (ENGINE, n.facility_id or "(no facility)")
        else:
            found = collect.get(n.node_id, [])
            health = worst(h for h, _ in found) if found else "unknown"
            detail = "; ".join(r for _, r in found) or "no collector reads this system"
            drill = DRILL.get(n.node_id, {})
            group = ()
        nodes.append(Node(n.node_id, n.label, n.column, health, detail, dict(drill), group,
                          n.facility_id))
    by_id = {n.node_id: n for n in nodes}
    edges = [Edge(e.source, e.target, e.health, e.label,
                  edge_drill(by_id.get(e.source), by_id.get(e.target), e.health))
             for e in edges]
    return nodes, edges


def layout(nodes: list[Node], edges: list[Edge]) -> Layout:
    """A layered layout of the flow (``app.shaping.lineage_layout``): channels boxed by facility
    inside the engine's box, the engine's own node at the top of its box (it has no flow
    edge of its own: its hops are its channels'), columns never left of each system's."""
    flow = [n for n in nodes if n.node_id != ENGINE]
    ids = [n.node_id for n in flow]
    placed = layered(ids, [(e.source, e.target) for e in edges],
                     {n.node_id: n.group for n in flow if n.group},
                     {n.node_id: n.column for n in flow})
    pos = dict(placed.pos)
    box = next((c for c in placed.clusters if c.key == (ENGINE,)), None)
    if any(n.node_id == ENGINE for n in nodes):
        engine = next(n for n in nodes if n.node_id == ENGINE)
        pos[ENGINE] = ((box.x0 + box.x1) / 2, box.y1) if box else (float(engine.column), 0.0)
    return Layout(pos, placed.routes, placed.clusters)


def name_of(node: Node | None, node_id: str) -> str:
    """A node as a reader names it: a channel with its facility (``DFT_OUT (FAC01)``)."""
    if node is None:
        return node_id
    return f"{node.label} ({node.facility_id})" if node.facility_id else node.label


def chosen_drill(points: Sequence[Mapping[str, Any]], nodes: Sequence[Node],
                 edges: Sequence[Edge], since: str, until: str) -> dict[str, str] | None:
    """The drill-down query parameters behind the first clicked node or edge (its
    ``customdata`` is the node id or ``edge:<index>``), or ``None``."""
    by_id = {n.node_id: n for n in nodes}
    for point in points:
        custom = point.get("customdata") or ()
        key = str(custom[0]) if custom else ""
        drill: dict[str, str] = {}
        if key.startswith("edge:") and key[5:].isdigit() and int(key[5:]) < len(edges):
            drill = edges[int(key[5:])].drill
        elif key in by_id:
            drill = by_id[key].drill
        if drill:
            return {**drill, "since": since, "until": until}
    return None


def hop_rows(nodes: Sequence[Node], edges: Sequence[Edge]) -> list[dict[str, str]]:
    """The table under the graph: every hop, then every system's collectors."""
    by_id = {n.node_id: n for n in nodes}
    rows = [{"health": e.health, "from": name_of(by_id.get(e.source), e.source),
             "to": name_of(by_id.get(e.target), e.target), "what": e.label} for e in edges]
    rows += [{"health": n.health, "from": n.label, "to": "Chargeline", "what": n.detail}
             for n in nodes if not n.group]
    return rows
