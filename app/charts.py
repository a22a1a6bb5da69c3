"""Plotly figure builders: a DataFrame (or plain values) in, a figure out — no queries, no
Streamlit. Charts that drill down carry their drill key in ``customdata`` (the facility,
channel, procedure or node), which ``app.drill.selection_to_filters`` reads back."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from app.lineage_view import Edge, Node
from app.trace import LANES, Hop

HEALTH_COLOUR = {"ok": "#2e7d32", "degraded": "#ef6c00", "down": "#c62828", "idle": "#9e9e9e",
                 "unknown": "#9e9e9e"}
STATUS_COLOUR = {"ok": "#2e7d32", "late": "#ef6c00", "queued": "#ef6c00", "pending": "#9e9e9e",
                 "credit": "#1565c0", "duplicate": "#c62828", "error": "#c62828",
                 "missing": "#c62828"}
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
# Series colours without red, which means "problem" on every chart here.
PALETTE = ("#1565c0", "#64b5f6", "#2e7d32", "#81c784", "#6a1b9a", "#ba68c8", "#00838f",
           "#4dd0e1", "#5d4037", "#a1887f")


def _base(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=MARGIN,
                      legend={"orientation": "h", "y": -0.15})
    return fig


def kpi_trend(df: pd.DataFrame, value: str, unit: str, title: str) -> go.Figure:
    """A KPI per facility over time: bars for dollars, lines with markers for rates (the
    markers make points selectable). ``df`` has facility_id, bucket and ``value``."""
    fig = go.Figure()
    for i, (facility, part) in enumerate(df.groupby("facility_id", sort=True)):
        x = pd.to_datetime(part["bucket"])
        colour = PALETTE[i % len(PALETTE)]
        custom = [[facility]] * len(part)
        hover = f"%{{customdata[0]}} %{{x|%d %b %H:00}}: %{{y:,.1f}} {unit}<extra></extra>"
        if unit == "$":
            fig.add_bar(x=x, y=part[value], name=str(facility), customdata=custom,
                        hovertemplate=hover, marker_color=colour)
        else:
            fig.add_scatter(x=x, y=part[value], name=str(facility), mode="lines+markers",
                            customdata=custom, hovertemplate=hover,
                            marker={"size": 9, "color": colour}, line={"color": colour})
    fig.update_layout(barmode="stack", dragmode="select", yaxis_title=unit)
    return _base(fig, title, 340)


def margin_bars(df: pd.DataFrame, title: str) -> go.Figure:
    """Billed, supply cost and margin per procedure (horizontal)."""
    fig = go.Figure()
    custom = [[p] for p in df["procedure"]]
    for column, name, colour in (("billed_usd", "Billed", "#1565c0"),
                                 ("supply_cost_usd", "Supply cost", "#9e9e9e"),
                                 ("margin_usd", "Margin", "#2e7d32")):
        fig.add_bar(y=df["procedure"].astype(str), x=df[column], name=name, orientation="h",
                    customdata=custom, marker_color=colour,
                    hovertemplate="%{customdata[0]} " + name + ": $%{x:,.0f}<extra></extra>")
    fig.update_layout(barmode="group", yaxis_title="procedure (CPT)", xaxis_tickprefix="$",
                      dragmode="select")
    # CPT codes look like numbers; they are labels.
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=list(df.sort_values("margin_usd")["procedure"].astype(str)))
    return _base(fig, title, 140 + 70 * max(1, len(df)))


def channel_trend(df: pd.DataFrame, title: str) -> go.Figure:
    """Messages received per hour per channel (stacked) with NACKs as a red line."""
    fig = go.Figure()
    if df.empty:
        return _base(fig, title, 320)
    for i, (channel, part) in enumerate(df.groupby("channel", sort=True)):
        fig.add_bar(x=pd.to_datetime(part["hour"]), y=part["received"], name=str(channel),
                    customdata=[[channel]] * len(part), marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{customdata[0]} %{x|%d %b %H:00}: %{y}<extra></extra>")
    nacks = df.groupby("hour", as_index=False)["nacks"].sum()
    fig.add_scatter(x=pd.to_datetime(nacks["hour"]), y=nacks["nacks"], name="NACKs",
                    mode="lines+markers", line={"color": "#c62828"},
                    customdata=[[""]] * len(nacks))
    fig.update_layout(barmode="stack", dragmode="select", yaxis_title="messages / hour")
    return _base(fig, title, 320)


def lineage_graph(nodes: Sequence[Node], edges: Sequence[Edge],
                  pos: dict[str, tuple[float, float]]) -> go.Figure:
    """The system graph: edges as coloured lines (labelled when not healthy), nodes as
    coloured markers with their names; a node's ``customdata`` is its id."""
    fig = go.Figure()
    for edge in edges:
        (x0, y0), (x1, y1) = pos[edge.source], pos[edge.target]
        colour = HEALTH_COLOUR[edge.health]
        fig.add_scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip",
                        line={"color": colour, "width": 4}, opacity=0.75, showlegend=False)
        fig.add_scatter(x=[(x0 + x1) / 2], y=[(y0 + y1) / 2], mode="markers", showlegend=False,
                        marker={"size": 10, "color": colour, "symbol": "diamond"},
                        customdata=[[edge.target]],
                        hovertemplate=edge.label + "<extra></extra>")
        if edge.health in ("down", "degraded"):
            fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=edge.label, yshift=-14,
                               showarrow=False, font={"size": 11, "color": colour},
                               bgcolor="rgba(255,255,255,0.85)")
    for health, colour in HEALTH_COLOUR.items():
        members = [n for n in nodes if n.health == health]
        if not members:
            continue
        fig.add_scatter(
            x=[pos[n.node_id][0] for n in members], y=[pos[n.node_id][1] for n in members],
            mode="markers", name=health, customdata=[[n.node_id] for n in members],
            hovertext=[f"{n.label}: {n.detail}" for n in members],
            hovertemplate="%{hovertext}<extra></extra>",
            marker={"size": 30, "color": colour, "line": {"width": 3, "color": "white"}})
    for node in nodes:
        x, y = pos[node.node_id]
        fig.add_annotation(x=x, y=y, text=f"<b>{node.label}</b>", yshift=26, showarrow=False,
                           font={"size": 12}, bgcolor="rgba(255,255,255,0.9)")
    right = max((x for x, _ in pos.values()), default=0.0)
    fig.update_xaxes(visible=False, range=[-0.45, right + 0.45])
    fig.update_yaxes(visible=False)
    fig.update_layout(dragmode="select", legend_title_text="health", clickmode="event+select")
    return _base(fig, "System graph (live health) — click a node for its records", 520)


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
    fig.update_yaxes(categoryorder="array", categoryarray=list(LANES), range=[-0.5, 5.5])
    return _base(fig, title, 360)
