"""Plotly figure builders: a DataFrame (or plain values) in, a figure out — no queries, no
Streamlit. Charts that drill down carry their drill key in ``customdata`` (the facility,
channel, procedure or node), which ``app.shaping.drill.selection_to_filters`` reads back."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

import pandas as pd
import plotly.graph_objects as go

from app.shaping.facilities import facility_label
from app.shaping.interfaces import channel_label
from app.shaping.lineage import Edge, Node, name_of
from app.shaping.lineage_layout import Layout
from app.shaping.procedures import procedure_label
from app.shaping.trace import LANES, Hop

HEALTH_COLOUR = {"ok": "#2e7d32", "degraded": "#ef6c00", "down": "#c62828", "idle": "#9e9e9e",
                 "unknown": "#9e9e9e"}
STATUS_COLOUR = {"ok": "#2e7d32", "late": "#ef6c00", "queued": "#ef6c00", "pending": "#9e9e9e",
                 "credit": "#1565c0", "duplicate": "#c62828", "error": "#c62828",
                 "missing": "#c62828"}
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
HOUR_MS = 3_600_000
HELD_SHADES = ("#ef6c00", "#ffa726", "#e65100", "#ffcc80", "#bf360c", "#ffb74d")
# Series colours without red, which means "problem" on every chart here.
PALETTE = ("#1565c0", "#64b5f6", "#2e7d32", "#81c784", "#6a1b9a", "#ba68c8", "#00838f",
           "#4dd0e1", "#5d4037", "#a1887f")


def _base(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=MARGIN,
                      legend={"orientation": "h", "y": -0.15})
    return fig


def kpi_trend(df: pd.DataFrame, value: str, unit: str, title: str,
              partial: datetime | None = None,
              names: Mapping[str, str] | None = None) -> go.Figure:
    """A KPI per facility over time: bars for dollars, lines with markers for rates (the
    markers make points selectable). ``df`` has facility_id, bucket and ``value``. The
    bucket starting at ``partial`` is still filling: a hollow marker (a faded bar) and
    "so far" on hover. A series is named as everywhere (``St. Mary Regional (FAC01)``,
    from ``names``); its ``customdata`` keeps the code."""
    fig = go.Figure()
    for i, (facility, part) in enumerate(df.groupby("facility_id", sort=True)):
        shown = facility_label(str(facility), names or {})
        x = pd.to_datetime(part["bucket"])
        filling = [partial is not None and b == pd.Timestamp(partial)
                   for b in pd.to_datetime(part["bucket"], utc=True)]
        colour = PALETTE[i % len(PALETTE)]
        custom = [[facility, " (so far)" if f else ""] for f in filling]
        hover = (f"{shown} %{{x|%d %b %H:00}}%{{customdata[1]}}: %{{y:,.1f}} "
                 f"{unit}<extra></extra>")
        if unit == "$":
            fig.add_bar(x=x, y=part[value], name=shown, customdata=custom,
                        hovertemplate=hover, marker={
                            "color": colour, "opacity": [0.4 if f else 1.0 for f in filling]})
        else:
            symbols = ["circle-open" if f else "circle" for f in filling]
            fig.add_scatter(x=x, y=part[value], name=shown, mode="lines+markers",
                            customdata=custom, hovertemplate=hover,
                            marker={"size": 9, "color": colour, "symbol": symbols,
                                    "line": {"width": 2, "color": colour}},
                            line={"color": colour})
    fig.update_layout(barmode="stack", dragmode="select", yaxis_title=unit)
    return _base(fig, title, 340)


def margin_bars(df: pd.DataFrame, title: str) -> go.Figure:
    """Per procedure, one bar of billed $ split into supply cost and margin (horizontal,
    biggest on top); ``customdata`` is the procedure code."""
    df = df.sort_values("billed_usd")
    fig = go.Figure()
    custom = [[p, b] for p, b in zip(df["procedure"], df["billed_usd"], strict=True)]
    # The code and what it is (``27447 · Total knee replacement``); customdata keeps the code.
    names = [procedure_label(p) for p in df["procedure"]]
    for column, name, colour in (("supply_cost_usd", "Supply cost", "#9e9e9e"),
                                 ("margin_usd", "Margin", "#2e7d32")):
        fig.add_bar(y=names, x=df[column], name=name, orientation="h",
                    customdata=custom, marker_color=colour,
                    hovertemplate="%{y} " + name
                    + ": $%{x:,.0f} of $%{customdata[1]:,.0f} billed<extra></extra>")
    fig.update_layout(barmode="stack", yaxis_title="procedure (CPT)", xaxis_tickprefix="$",
                      dragmode="select")
    fig.update_yaxes(type="category")  # CPT codes look like numbers; they are labels
    fig = _base(fig, title, 150 + 34 * max(1, len(df)))
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                              "xanchor": "right"})
    return fig


def denial_reasons(df: pd.DataFrame, title: str) -> go.Figure:
    """Denials by CARC (``CO-16``): one horizontal bar of $ each, largest on top, its
    adjustment count written at the bar's end; ``customdata`` is the CARC."""
    df = df.sort_values("usd")
    labels = [f"{n:,} adj." for n in df["adjustments"]]
    fig = go.Figure()
    fig.add_bar(y=df["carc"].astype(str), x=df["usd"], orientation="h", text=labels,
                textposition="outside", marker_color="#c62828",
                customdata=[[c, n] for c, n in zip(df["carc"], df["adjustments"], strict=True)],
                hovertemplate="%{customdata[0]}: $%{x:,.2f} in %{customdata[1]:,} "
                              "adjustments<extra></extra>")
    fig.update_layout(xaxis_tickprefix="$", yaxis_title="group-CARC", showlegend=False)
    fig.update_yaxes(type="category")  # CARC 16 is a label, not a number
    return _base(fig, title, 150 + 30 * max(1, len(df)))


def denial_trend(df: pd.DataFrame, title: str, all_label: str) -> go.Figure:
    """The initial denial rate per bucket: a line per payer, the estate's (``all_label``)
    thick and dark; the hover says how many claims the point stands on."""
    fig = go.Figure()
    payers = sorted(p for p in df["payer"].unique() if p != all_label)
    for i, payer in enumerate([all_label, *payers]):
        part = df[df["payer"] == payer]
        every = payer == all_label
        colour = "#212121" if every else PALETTE[i % len(PALETTE)]
        fig.add_scatter(
            x=pd.to_datetime(part["bucket"]), y=part["rate_count_pct"], name=payer,
            mode="lines+markers", customdata=part[["denied", "claims"]].to_numpy(),
            line={"color": colour, "width": 4 if every else 2},
            hovertemplate=f"{payer} %{{x|%d %b}}: %{{y:.1f}} % (%{{customdata[0]:,}} of "
                          "%{customdata[1]:,} claims)<extra></extra>")
    fig.update_layout(yaxis_title="% of claims denied", yaxis_rangemode="tozero")
    return _base(fig, title, 340)


def channel_trend(df: pd.DataFrame, title: str) -> go.Figure:
    """Messages received per hour per channel (stacked) with NACKs as a red line; a
    channel is (facility, channel name), ``customdata`` [facility, label]."""
    fig = go.Figure()
    if df.empty:
        return _base(fig, title, 320)
    for i, ((fac, channel), part) in enumerate(df.groupby(["facility_id", "channel"],
                                                          sort=True)):
        label = channel_label(str(fac), str(channel))
        fig.add_bar(x=pd.to_datetime(part["hour"]), y=part["received"], name=label,
                    customdata=[[fac, label]] * len(part),
                    marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{customdata[1]} %{x|%d %b %H:00}: %{y}<extra></extra>")
    nacks = df.groupby("hour", as_index=False)["nacks"].sum()
    fig.add_scatter(x=pd.to_datetime(nacks["hour"]), y=nacks["nacks"], name="NACKs",
                    mode="lines+markers", line={"color": "#c62828"},
                    customdata=[[""]] * len(nacks))
    fig.update_layout(barmode="stack", dragmode="select", yaxis_title="messages / hour")
    return _base(fig, title, 320)


def held_trend(df: pd.DataFrame, title: str, start: datetime, end: datetime) -> go.Figure:
    """Messages held per hour per channel over the window ``start``..``end`` (stacked bars
    an hour wide, in the warning colour's shades), the mean wait for the ACK on hover.
    ``df`` has facility_id, channel, hour, held, wait_minutes. The axis spans the whole
    window: an outage is a few bars, and alone it would be stretched across the chart."""
    fig = go.Figure()
    for i, ((fac, channel), part) in enumerate(df.groupby(["facility_id", "channel"],
                                                          sort=True)):
        mean = (part["wait_minutes"] / part["held"]).round(0)
        label = channel_label(str(fac), str(channel))
        fig.add_bar(x=pd.to_datetime(part["hour"]) + pd.Timedelta(minutes=30), y=part["held"],
                    width=HOUR_MS, name=label, customdata=[[label, m] for m in mean],
                    marker_color=HELD_SHADES[i % len(HELD_SHADES)],
                    hovertemplate="%{customdata[0]} %{x|%d %b %H:00}: %{y} held, waited "
                                  "%{customdata[1]:.0f} min on average<extra></extra>")
    fig.update_layout(barmode="stack", yaxis_title="messages held / hour", showlegend=True)
    fig.update_xaxes(type="date", range=[start, end])
    return _base(fig, title, 280)


def lineage_graph(nodes: Sequence[Node], edges: Sequence[Edge], placed: Layout
                  ) -> go.Figure:
    """The system graph in its layered layout: the engine's box with a box per facility's
    channels, edges as coloured polylines routed around nodes (labelled when not healthy),
    nodes as coloured markers. Every node and every edge (its diamond) is a point whose
    ``customdata`` is its drill key: the node id, or ``edge:<index>``."""
    fig = go.Figure()
    by_id = {n.node_id: n for n in nodes}
    for box in sorted(placed.clusters, key=lambda c: len(c.key)):
        inner = len(box.key) > 1
        fig.add_shape(type="rect", x0=box.x0, x1=box.x1, y0=box.y0, y1=box.y1, layer="below",
                      line={"color": "#90a4ae" if inner else "#546e7a", "width": 1,
                            "dash": "dot" if inner else "solid"},
                      fillcolor="rgba(236,239,241,0.55)" if inner else "rgba(250,250,250,0.6)")
        if inner:  # the facility, at the foot of its box (its top holds a channel's name)
            fig.add_annotation(x=box.x0, y=box.y0, text=box.key[-1], showarrow=False,
                               xanchor="left", yanchor="bottom", font={"size": 11,
                                                                       "color": "#546e7a"})
    for i, edge in enumerate(edges):
        route = placed.routes[i]
        colour = HEALTH_COLOUR[edge.health]
        fig.add_scatter(x=[x for x, _ in route], y=[y for _, y in route], mode="lines",
                        hoverinfo="skip", line={"color": colour, "width": 4},
                        opacity=0.75, showlegend=False)
        # the clickable point of the edge: halfway along its longest segment
        (x0, y0), (x1, y1) = max(pairwise(route),
                                 key=lambda s: math.dist(*s))
        src, dst = by_id.get(edge.source), by_id.get(edge.target)
        name = f"{name_of(src, edge.source)} → {name_of(dst, edge.target)}"
        fig.add_scatter(x=[(x0 + x1) / 2], y=[(y0 + y1) / 2], mode="markers", showlegend=False,
                        marker={"size": 14, "color": colour, "symbol": "diamond",
                                "line": {"width": 1, "color": "white"}},
                        customdata=[[f"edge:{i}"]], hovertext=[f"{name}: {edge.label}"],
                        hovertemplate="%{hovertext}<br>click for its records<extra></extra>")
        if edge.health in ("down", "degraded"):
            # Beside the diamond, shortened: the full reason is in the table below.
            text = edge.label if len(edge.label) <= 36 else edge.label[:34] + "…"
            fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=text, yshift=-16,
                               showarrow=False, font={"size": 11, "color": colour},
                               bgcolor="rgba(255,255,255,0.85)")
    for health, colour in HEALTH_COLOUR.items():
        members = [n for n in nodes if n.health == health and n.node_id in placed.pos]
        if not members:
            continue
        fig.add_scatter(
            x=[placed.pos[n.node_id][0] for n in members],
            y=[placed.pos[n.node_id][1] for n in members],
            mode="markers", name=health, customdata=[[n.node_id] for n in members],
            hovertext=[f"{name_of(n, n.node_id)}: {n.detail}" for n in members],
            hovertemplate="%{hovertext}<br>click for its records<extra></extra>",
            marker={"size": 30, "color": colour, "line": {"width": 3, "color": "white"}})
    for node in nodes:
        if node.node_id not in placed.pos:
            continue
        x, y = placed.pos[node.node_id]
        fig.add_annotation(x=x, y=y, text=f"<b>{node.label}</b>", yshift=24, showarrow=False,
                           font={"size": 12}, bgcolor="rgba(255,255,255,0.9)")
    xs = [x for x, _ in placed.pos.values()] or [0.0]
    ys = [y for _, y in placed.pos.values()] + [c.y0 for c in placed.clusters] + [
        c.y1 for c in placed.clusters]
    fig.update_xaxes(visible=False, range=[min(xs) - 0.5, max(xs) + 0.5], fixedrange=True)
    fig.update_yaxes(visible=False, range=[min(ys) - 0.5, max(ys) + 0.6], fixedrange=True)
    # A click selects the point under the mouse and Streamlit hands it to the page.
    fig.update_layout(dragmode=False, legend_title_text="health", clickmode="event+select",
                      hovermode="closest")
    # About 80 px per row of nodes, so a label never sits on the node above.
    height = int(160 + 80 * (max(ys) - min(ys) + 1))
    fig = _base(fig, "System graph (live health) — click a node or an edge for its records",
                height)
    fig.update_layout(legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1,
                              "xanchor": "right"})
    return fig


def trace_timeline(trail: Sequence[Hop], stop_lane: str, title: str) -> go.Figure:
    """One transaction as a timeline: a lane per hop, points in time coloured by status,
    and the lane where it stopped marked."""
    fig = go.Figure()
    timed = [h for h in trail if h.at is not None]
    fig.add_scatter(x=[h.at for h in timed], y=[h.lane for h in timed], mode="lines",
                    line={"color": "#bdbdbd", "width": 2}, hoverinfo="skip", showlegend=False)
    for status in dict.fromkeys(h.status for h in timed):
        part = [h for h in timed if h.status == status]
        fig.add_scatter(x=[h.at for h in part], y=[h.lane for h in part], mode="markers",
                        name=status, marker={"size": 14, "color": STATUS_COLOUR.get(status)},
                        text=[f"{h.key}: {h.detail}" for h in part],
                        hovertemplate="%{text}<br>%{x|%d %b %H:%M:%S}<extra></extra>")
    if stop_lane in LANES and timed:
        fig.add_hrect(y0=LANES.index(stop_lane) - 0.4, y1=LANES.index(stop_lane) + 0.4,
                      fillcolor="#c62828", opacity=0.12, line_width=0,
                      annotation_text="stopped here", annotation_position="top left")
    fig.update_yaxes(categoryorder="array", categoryarray=list(LANES),
                     range=[-0.5, len(LANES) - 0.5])
    if timed:
        # Hops seconds apart would get a sub-millisecond axis: show at least an hour.
        first, last = min(h.at for h in timed), max(h.at for h in timed)
        pad = max(timedelta(minutes=30) - (last - first) / 2, timedelta(minutes=5))
        fig.update_xaxes(range=[first - pad, last + pad])
    return _base(fig, title, 360)
