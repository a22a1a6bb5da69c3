"""Overview: the executive page. Volumes and KPIs per facility with their trend versus
the previous period; every number links to the records behind it."""

from __future__ import annotations

import streamlit as st

from app import charts, queries
from app.datasets import DATASETS
from app.drill import DrillFilters, selection_to_filters, to_query_params
from app.kpis import render_kpis
from app.resources import database_url
from app.ui import current_window, delta_text, require_page

DRILL_PAGE = "pages/drilldown.py"

require_page("pages/overview.py")
url = database_url()
window = current_window()
st.title("Overview")
st.caption(f"{window.start:%d %b %Y %H:%M} – {window.end:%d %b %Y %H:%M} UTC")

render_kpis(url, window)

now = queries.facility_counts(url, window.start, window.end)
before = queries.facility_counts(url, window.previous.start, window.previous.end)

st.subheader("Volumes")
cols = st.columns(len(DATASETS))
for col, ds in zip(cols, DATASETS.values(), strict=True):
    n = int(now.loc[now["dataset"] == ds.name, "n"].sum())
    b = int(before.loc[before["dataset"] == ds.name, "n"].sum())
    with col:
        st.metric(ds.label, f"{n:,}", delta_text(n, b))
        filters = DrillFilters(dataset=ds.name, since=window.start, until=window.end)
        st.page_link(DRILL_PAGE, label="Records", icon=":material/arrow_forward:",
                     query_params=to_query_params(filters))

st.subheader("Per facility")
if now.empty:
    st.info("No records in this window yet. Run a collection pass, or widen the window.")
else:
    table = now.pivot_table(index="facility_id", columns="dataset", values="n",
                            aggfunc="sum", fill_value=0)
    table = table.reindex(columns=list(DATASETS), fill_value=0).rename(
        columns={k: v.label for k, v in DATASETS.items()})
    st.dataframe(table, key="ov_facilities", on_select="rerun", selection_mode="single-row")
    picked = st.session_state.get("ov_facilities")
    rows = picked.selection.rows if picked is not None and hasattr(picked, "selection") else (
        picked.get("selection", {}).get("rows", []) if isinstance(picked, dict) else [])
    for facility in (table.index[r] for r in rows):
        st.markdown(f"**{facility}** — open its records:")
        link_cols = st.columns(len(DATASETS))
        for col, ds in zip(link_cols, DATASETS.values(), strict=True):
            f = DrillFilters(dataset=ds.name, facilities=(facility,), since=window.start,
                             until=window.end)
            col.page_link(DRILL_PAGE, label=f"{ds.label}: {int(table.loc[facility, ds.label]):,}",
                          query_params=to_query_params(f))

st.subheader("Hourly")
dataset = st.segmented_control("Records", list(DATASETS), default="usage", key="ov_dataset",
                               format_func=lambda k: DATASETS[k].label)
dataset = dataset or "usage"
hourly = queries.hourly_counts(url, dataset, window.start, window.end)
event = st.plotly_chart(
    charts.hourly_bars(hourly, f"{DATASETS[dataset].label} per hour — box-select to drill down"),
    key="ov_hourly", on_select="rerun", selection_mode=("box", "points"),
)
drill = selection_to_filters(event.selection.points if event else [], dataset=dataset)
if drill is not None:
    st.switch_page(DRILL_PAGE, query_params=to_query_params(drill))
