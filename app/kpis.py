"""Executive KPIs on the overview, read from the metrics package when it is installed."""

from __future__ import annotations

import streamlit as st

from app.ui import Window


def render_kpis(url: str, window: Window) -> None:
    """Draw the KPI row, or say where KPIs will come from when metrics are not there."""
    st.caption("Executive KPIs appear here once the metrics package has computed them.")
