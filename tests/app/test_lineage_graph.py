"""The system graph as drawn: a layered layout whose edges pass no node, channels boxed by
facility inside the engine, and a click on a node or an edge opening its own records."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise

from app.shaping.lineage import Node, chosen_drill, for_drawing, hop_rows, layout
from core.config import SourceConfig
from metrics.lineage.graph import ChannelObservation, Observations, SourceObservation, build_graph

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
SOURCES = [SourceConfig(name=n, kind=k, base_url="http://x.test") for n, k in (
    ("billing", "fhir_billing"), ("erp", "odata_erp"), ("ehr-usage", "fhir_usage"),
    ("engine-stats", "engine_stats"))]


def _graph():
    """Three facilities' charge channels, FAC01 and FAC02 each with a DFT_OUT too (FAC02's
    rejecting everything), the ERP fed straight from the EHR."""
    channels = [ChannelObservation(f"{f}_CHG_OUT", f, "DFT^P03", messages=5, acked=5)
                for f in ("FAC01", "FAC02", "FAC03")]
    channels += [ChannelObservation("DFT_OUT", "FAC01", "DFT^P03", messages=5, acked=5),
                 ChannelObservation("DFT_OUT", "FAC02", "DFT^P03", messages=5, errored=5,
                                    acked=5, nacks=5)]
    sources = {s.name: SourceObservation(s.name, "ok", NOW, last_success_at=NOW)
               for s in SOURCES}
    obs = Observations(sources=sources,
                       channels={f"{c.facility_id}/{c.channel}": c for c in channels})
    return for_drawing(build_graph(SOURCES, obs, NOW))


X_SCALE = 2.0  # a column is about two rows wide on screen (190 px columns, 90 px rows)


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """From ``p`` to the segment ``a``-``b``, in rows as drawn."""
    (px, py), (ax, ay), (bx, by) = ((x * X_SCALE, y) for x, y in (p, a, b))
    length = (bx - ax) ** 2 + (by - ay) ** 2
    t = max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length))
    return math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))


def test_no_edge_passes_through_a_node_nor_through_the_engine_box() -> None:
    nodes, edges = _graph()
    placed = layout(nodes, edges)
    engine_box = next(c for c in placed.clusters if c.key == ("engine",))
    for i, edge in enumerate(edges):
        route = placed.routes[i]
        assert route[0] == placed.pos[edge.source] and route[-1] == placed.pos[edge.target]
        if edge.target.startswith("channel:"):  # it enters the box level with its channel
            assert route[-2][1] == route[-1][1] and route[-2][0] < route[-1][0]
        for node_id, at in placed.pos.items():
            if node_id in (edge.source, edge.target) or node_id == "engine":
                continue
            assert min(_distance(at, a, b) for a, b in pairwise(route)) \
                > 0.3, (edge.source, edge.target, node_id)
    # the EHR -> ERP edge (no channel of its own) passes the engine's box, not through it
    ehr_erp = placed.routes[next(i for i, e in enumerate(edges)
                                 if (e.source, e.target) == ("ehr", "erp"))]
    crossing = [y for x, y in ehr_erp if engine_box.x0 <= x <= engine_box.x1]
    assert crossing and all(not engine_box.y0 <= y <= engine_box.y1 for y in crossing)


def test_channels_are_boxed_by_facility_inside_the_engine_box_headed_by_the_engine() -> None:
    nodes, edges = _graph()
    placed = layout(nodes, edges)
    boxes = {c.key: c for c in placed.clusters}
    assert set(boxes) == {("engine",), ("engine", "FAC01"), ("engine", "FAC02"),
                          ("engine", "FAC03")}
    assert set(boxes[("engine", "FAC01")].members) == {"channel:FAC01/FAC01_CHG_OUT",
                                                        "channel:FAC01/DFT_OUT"}
    outer = boxes[("engine",)]
    facility_boxes = sorted((b for k, b in boxes.items() if len(k) == 2), key=lambda b: b.y0)
    for box in facility_boxes:
        assert outer.y0 < box.y0 < box.y1 < outer.y1 and outer.x0 < box.x0
    for lower, upper in pairwise(facility_boxes):
        assert lower.y1 < upper.y0  # apart: one facility's channels together
    # the engine is no floating node: it heads its own box
    x, y = placed.pos["engine"]
    assert outer.x0 < x < outer.x1 and y == outer.y1
    # every system keeps its column; billing and the ERP side by side
    assert placed.pos["billing"][0] == placed.pos["erp"][0] == 3.0


def test_a_click_on_a_node_or_an_edge_opens_its_own_records() -> None:
    nodes, edges = _graph()
    window = ("2026-11-11T12:00", "2026-11-18T13:00")

    def click(key: str) -> dict[str, str] | None:
        return chosen_drill([{"customdata": [key]}], nodes, edges, *window)

    span = {"since": window[0], "until": window[1]}
    assert click("channel:FAC02/DFT_OUT") == {"dataset": "messages", "channel": "DFT_OUT",
                                              "facility": "FAC02", **span}
    assert click("erp") == {"dataset": "inventory", "problems": "true", **span}
    into = next(i for i, e in enumerate(edges) if e.target == "channel:FAC02/DFT_OUT")
    assert click(f"edge:{into}") == {"dataset": "messages", "channel": "DFT_OUT",
                                     "facility": "FAC02", "status": "E", **span}
    out = next(i for i, e in enumerate(edges) if e.source == "channel:FAC01/DFT_OUT")
    assert click(f"edge:{out}") == {"dataset": "messages", "channel": "DFT_OUT",
                                    "facility": "FAC01", **span}
    assert click("edge:999") is None and click("nowhere") is None
    assert chosen_drill([], nodes, edges, *window) is None


def test_the_table_names_each_channel_with_its_facility() -> None:
    nodes, edges = _graph()
    rows = hop_rows(nodes, edges)
    assert {"from": "EHR", "to": "DFT_OUT (FAC02)"} in [
        {k: r[k] for k in ("from", "to")} for r in rows]
    assert not any(r["from"].startswith("DFT_OUT") and r["to"] == "Chargeline" for r in rows)
    assert isinstance(nodes[0], Node)
