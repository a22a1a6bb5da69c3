"""Interfaces: the triage page. System -> channel tree with Mirth's counters, NACK rate
and queue age; APIs with p95 and errors; source freshness; hourly trends. Refreshes
itself every 60 s."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import charts, queries
from app.drill import DrillFilters, to_query_params
from app.interfaces_view import api_rows, channel_rows, freshness_rows
from app.resources import database_url
from app.ui import current_window, require_page

DRILL_PAGE = "pages/drilldown.py"
HEALTH_ICON = {"down": "🔴", "degraded": "🟠", "ok": "🟢", "idle": "⚪"}

require_page("pages/interfaces.py")
url = database_url()
st.title("Interfaces")


@st.fragment(run_every="60s")
def live_view() -> None:
    """Everything on the page that moves; reruns alone on the timer."""
    window = current_window()
    st.caption(f"{window.start:%d %b %H:%M} – {window.end:%d %b %H:%M} UTC · "
               f"refreshed {datetime.now(UTC):%H:%M:%S} UTC")
    channels = channel_rows(queries.channel_health(url, window.start, window.end), window.end)
    st.subheader("Interface engine channels")
    if channels.empty:
        st.info("No interface messages in this window.")
    for system, part in channels.groupby("system", sort=True):
        worst = min(part["health"], key=lambda h: ["down", "degraded", "ok", "idle"].index(h))
        with st.expander(f"{HEALTH_ICON[worst]} {system} — {len(part)} channels",
                         expanded=worst in ("down", "degraded")):
            shown = part.drop(columns=["system"]).assign(
                health=part["health"].map(lambda h: f"{HEALTH_ICON[h]} {h}"))
            st.dataframe(shown, hide_index=True, key=f"if_ch_{system}")
            for row in part.itertuples():
                if row.errored:
                    f = DrillFilters(dataset="messages", channel=row.channel, status="E",
                                     since=window.start, until=window.end)
                    st.page_link(DRILL_PAGE, label=f"{row.channel}: {row.errored} errored",
                                 query_params=to_query_params(f))

    st.subheader("APIs")
    st.dataframe(api_rows(queries.api_health(url, window.start, window.end)),
                 hide_index=True, key="if_api")
    st.subheader("Source freshness")
    st.dataframe(freshness_rows(queries.source_freshness(url), window.end),
                 hide_index=True, key="if_fresh")

    st.subheader("Messages per hour")
    hourly = queries.hourly_counts(url, "messages", window.start, window.end)
    st.plotly_chart(charts.hourly_bars(hourly, "Interface messages per hour by facility"),
                    key="if_hourly")


live_view()
