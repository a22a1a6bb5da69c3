"""Plotly figure builders: a DataFrame in, a figure out (no queries, no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def hourly_bars(df: pd.DataFrame, title: str) -> go.Figure:
    """Stacked hourly bars per facility; ``customdata`` carries the facility so a
    selection maps back to the records (see ``app.drill.selection_to_filters``)."""
    fig = go.Figure()
    for facility, part in df.groupby("facility_id", sort=True):
        fig.add_bar(
            x=pd.to_datetime(part["hour"]),
            y=part["n"],
            name=str(facility),
            customdata=[[facility]] * len(part),
            hovertemplate="%{customdata[0]} %{x|%d %b %H:00}: %{y}<extra></extra>",
        )
    fig.update_layout(
        title=title, barmode="stack", dragmode="select", height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="Facility",
    )
    return fig


def facility_bars(df: pd.DataFrame, value: str, title: str) -> go.Figure:
    """One bar per facility."""
    fig = go.Figure(go.Bar(x=df["facility_id"], y=df[value], customdata=df[["facility_id"]]))
    fig.update_layout(title=title, height=280, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def channel_trend(df: pd.DataFrame, title: str) -> go.Figure:
    """Hourly message counts per channel as lines with markers (markers make points
    selectable)."""
    fig = go.Figure()
    for channel, part in df.groupby("facility_id", sort=True):
        fig.add_scatter(x=pd.to_datetime(part["hour"]), y=part["n"], mode="lines+markers",
                        name=str(channel), customdata=[[channel]] * len(part))
    fig.update_layout(title=title, height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
