"""A layered (Sugiyama-style) layout of the system graph, pure Python: no Graphviz binary
to install on the dashboard's host.

Steps, as in Graphviz ``dot``: layers by longest path along the flow; an edge that spans
layers gets a dummy point in each layer it crosses, so it is routed between nodes and
never drawn through one (the EHR -> ERP edge passes the engine's channels instead of
seeming to leave a channel); the order inside each layer by barycentre sweeps, keeping
each group contiguous (the engine's channels together, each facility's together); then
rows, each node pulled towards its neighbours without breaking the order. The engine and
each facility's channels get a box around them (``Cluster``).

``layered(nodes, edges)`` takes ids only, so the shaper and the tests need no drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

ROW = 1.0  # distance between neighbouring nodes of a layer
GROUP_GAP = 0.6  # extra room between groups, for a box's padding and title
SWEEPS = 6
PORT = 0.32  # an edge meets a boxed node level with it, at its box's edge


@dataclass(frozen=True)
class Cluster:
    """A box around a group of nodes: ``x0..x1`` by ``y0..y1`` (y grows upwards)."""

    key: tuple[str, ...]
    members: tuple[str, ...]
    x0: float
    x1: float
    y0: float
    y1: float


@dataclass(frozen=True)
class Layout:
    pos: dict[str, tuple[float, float]]  # node id -> (x, y)
    routes: dict[int, list[tuple[float, float]]]  # edge index -> its points, end to end
    clusters: tuple[Cluster, ...]


def _layers(ids: Sequence[str], edges: Sequence[tuple[str, str]],
            hint: Mapping[str, int]) -> dict[str, int]:
    """Longest path from the sources, never left of a node's hinted column (billing and
    the ERP share a column though the ERP is one hop nearer the EHR: its edge then passes
    the engine's column as a routed dummy, not as a node of it)."""
    succ: dict[str, list[str]] = {n: [] for n in ids}
    indeg = dict.fromkeys(ids, 0)
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    layer = {n: hint.get(n, 0) for n in ids}
    todo = [n for n in ids if indeg[n] == 0]
    seen: set[str] = set()
    while todo:
        node = todo.pop(0)
        seen.add(node)
        for nxt in succ[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indeg[nxt] -= 1
            if indeg[nxt] == 0:
                todo.append(nxt)
    touched = {n for e in edges for n in e}
    for n in ids:
        if n not in touched or n not in seen:  # isolated, or on a cycle: where it says
            layer[n] = hint.get(n, 0)
    return layer


def _ordered(members: list[str], groups: Mapping[str, tuple[str, ...]],
             centre: Mapping[str, float], depth: int = 0) -> list[str]:
    """``members`` by barycentre, each group (by its key's ``depth``-th part) contiguous
    and placed at its members' mean barycentre."""
    buckets: dict[str, list[str]] = {}
    for m in members:
        key = groups[m]
        buckets.setdefault(key[depth] if depth < len(key) else f"\0{m}", []).append(m)
    out: list[str] = []
    for _, part in sorted(buckets.items(),
                          key=lambda kv: sum(centre[m] for m in kv[1]) / len(kv[1])):
        deeper = [m for m in part if len(groups[m]) > depth + 1]
        if deeper and len(part) > 1:
            out.extend(_ordered(part, groups, centre, depth + 1))
        else:
            out.extend(sorted(part, key=lambda m: centre[m]))
    return out


def layered(ids: Sequence[str], edges: Sequence[tuple[str, str]],
            groups: Mapping[str, tuple[str, ...]] | None = None,
            hint: Mapping[str, int] | None = None) -> Layout:
    """Positions for ``ids`` (x = layer, y = row, downwards negative), a polyline per
    edge and a box per group key prefix. ``groups`` maps a node to its group path, e.g.
    ``("engine", "FAC01")`` for a channel; ``hint`` is a column for nodes without edges."""
    groups = dict(groups or {})
    layer = _layers(ids, edges, hint or {})
    # dummies: one per layer an edge crosses
    chains: dict[int, list[str]] = {}
    links: list[tuple[str, str]] = []
    for i, (a, b) in enumerate(edges):
        chain = [a]
        for step in range(layer[a] + 1, layer[b]):
            dummy = f"\0edge{i}:{step}"
            layer[dummy] = step
            chain.append(dummy)
        chain.append(b)
        chains[i] = chain
        links.extend(pairwise(chain))
    for n in layer:
        groups.setdefault(n, ())
    width = max(layer.values(), default=0) + 1
    rows: list[list[str]] = [[] for _ in range(width)]
    for n in [*ids, *(d for c in chains.values() for d in c[1:-1])]:
        rows[layer[n]].append(n)
    up: dict[str, list[str]] = {n: [] for n in layer}
    down: dict[str, list[str]] = {n: [] for n in layer}
    for a, b in links:
        down[a].append(b)
        up[b].append(a)

    index = {n: float(i) for row in rows for i, n in enumerate(row)}
    for sweep in range(SWEEPS):
        order = range(1, width) if sweep % 2 == 0 else range(width - 2, -1, -1)
        for k in order:
            near = up if sweep % 2 == 0 else down
            centre = {n: (sum(index[m] for m in near[n]) / len(near[n]) if near[n]
                          else index[n]) for n in rows[k]}
            rows[k] = _ordered(rows[k], groups, centre)
            index.update({n: float(i) for i, n in enumerate(rows[k])})

    def gap(a: str, b: str) -> float:
        return ROW + (GROUP_GAP if groups[a] != groups[b] else 0.0)

    # rows (downwards positive here), each pulled to its neighbours' mean, order kept
    depth = {}
    for row in rows:
        at = 0.0
        for j, n in enumerate(row):
            at = at + gap(row[j - 1], n) if j else 0.0
            depth[n] = at
    for sweep in range(SWEEPS):
        order = range(1, width) if sweep % 2 == 0 else range(width - 2, -1, -1)
        near = up if sweep % 2 == 0 else down
        for k in order:
            row = rows[k]
            want = [sum(depth[m] for m in near[n]) / len(near[n]) if near[n] else depth[n]
                    for n in row]
            placed: list[float] = []
            for j, n in enumerate(row):
                placed.append(want[j] if not j else max(want[j], placed[-1] + gap(row[j - 1], n)))
            shift = sum(w - p for w, p in zip(want, placed, strict=True)) / max(len(row), 1)
            # shifting the whole row keeps its spacing; only upwards of what it needs
            for n, p in zip(row, placed, strict=True):
                depth[n] = p + shift
    pos = {n: (float(layer[n]), -depth[n]) for n in layer}
    routes = {}
    for i, chain in chains.items():
        route = [pos[n] for n in chain]
        # into and out of a box level with the node: a straight line to a node stacked
        # in a column would graze its neighbours in the same box
        if groups[chain[-1]]:
            x, y = route[-1]
            route.insert(-1, (x - PORT, y))
        if groups[chain[0]]:
            x, y = route[0]
            route.insert(1, (x + PORT, y))
        routes[i] = route
    return Layout({n: pos[n] for n in ids}, routes, _clusters(ids, groups, pos))


def _clusters(ids: Sequence[str], groups: Mapping[str, tuple[str, ...]],
              pos: Mapping[str, tuple[float, float]]) -> tuple[Cluster, ...]:
    prefixes: dict[tuple[str, ...], list[str]] = {}
    for n in ids:
        key = groups.get(n, ())
        for cut in range(1, len(key) + 1):
            prefixes.setdefault(key[:cut], []).append(n)
    out = []
    for key, members in sorted(prefixes.items()):
        xs, ys = [pos[m][0] for m in members], [pos[m][1] for m in members]
        pad_x = 0.32 - 0.07 * (len(key) - 1)
        pad_y = 0.55 if len(key) == 1 else 0.3  # an outer box leaves room for inner titles
        out.append(Cluster(key, tuple(members), min(xs) - pad_x, max(xs) + pad_x,
                           min(ys) - pad_y, max(ys) + pad_y + 0.12))
    return tuple(out)
