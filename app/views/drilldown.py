"""Drill-down: the records behind a number, filtered, server-side paged, downloadable.

Every filter is bound to a URL query parameter, so a link in an e-mail (or from another
page) reopens exactly this view: ``/drilldown?dataset=charges&facility=FAC01&page=2``.
"""

from __future__ import annotations

import math

import streamlit as st

from app import queries, records
from app.datasets import DATASETS, PROBLEM_DATASETS
from app.drill import DrillFilters, parse_time
from app.resources import database_url, engine
from app.tables import column_config
from app.ui import require_page

PAGE_SIZE = 50
CSV_LIMIT = 50_000
DEPENDENT = ("status", "channel", "page")

require_page("views/drilldown.py")
url = database_url()
st.title("Drill-down")


def _reset(*names: str) -> None:
    """A changed filter invalidates the page number (and a new dataset its status)."""
    for name in names:
        st.session_state[name] = 1 if name == "page" else ""


with st.container(border=True):
    c1, c2, c3 = st.columns([2, 2, 2])
    # Bound by hand: a bound select box puts its *label* in the URL, and links carry the
    # dataset's name (``?dataset=messages``).
    if "dataset" not in st.session_state:
        wanted_ds = st.query_params.get("dataset", "")
        st.session_state["dataset"] = wanted_ds if wanted_ds in DATASETS else "capture"
    dataset = c1.selectbox("Records", list(DATASETS), key="dataset",
                           format_func=lambda k: DATASETS[k].label, on_change=_reset,
                           args=DEPENDENT)
    st.query_params["dataset"] = dataset
    ds = DATASETS[dataset]
    known = queries.facilities(url)
    wanted = st.query_params.get_all("facility")
    facility = c2.multiselect("Facility", sorted(set(known) | set(wanted)), key="facility",
                              bind="query-params", on_change=_reset, args=("page",))
    search = c3.text_input("Id (usage, encounter, charge, control, document…)", key="search",
                           bind="query-params", on_change=_reset, args=("page",))
    c4, c5, c6, c7, c8 = st.columns([2, 2, 2, 2, 2], vertical_alignment="bottom")
    since = c4.datetime_input("From (UTC)", value=None, key="since", bind="query-params",
                              on_change=_reset, args=("page",))
    until = c5.datetime_input("Until (UTC)", value=None, key="until", bind="query-params",
                              on_change=_reset, args=("page",))
    current = st.session_state.get("status") or st.query_params.get("status", "")
    options = ["", *ds.status_values, *([current] if current not in ds.status_values else [])]
    status = c6.selectbox(ds.status_label, list(dict.fromkeys(options)), key="status",
                          bind="query-params", accept_new_options=True,
                          disabled=not ds.status_column, on_change=_reset, args=("page",),
                          format_func=lambda v: v or "any")
    channel = c7.text_input(ds.channel_label, key="channel", bind="query-params",
                            disabled=not ds.channel_column, on_change=_reset, args=("page",))
    problems = c8.checkbox("Problems only", key="problems", bind="query-params",
                           on_change=_reset, args=("page",),
                           disabled=dataset not in PROBLEM_DATASETS)

filters = DrillFilters(
    dataset=dataset, facilities=tuple(facility), channel=(channel or "").strip(),
    status=(status or "").strip(), search=(search or "").strip(), problems=bool(problems),
    since=parse_time(since.isoformat()) if since else None,
    until=parse_time(until.isoformat()) if until else None,
)
total = queries.record_count(url, filters)
pages = max(1, math.ceil(total / PAGE_SIZE))
requested = st.session_state.get("page") or st.query_params.get("page") or 1
if int(requested) > pages:
    st.session_state["page"] = pages
st.markdown(f"**{total:,}** {ds.label.lower()} match", help="Counted in the store; the table "
            f"shows {PAGE_SIZE} at a time, newest first.")
table = st.container()
left, right = st.columns([3, 2])
with left:
    page = st.pagination(pages, key="page", bind="query-params")
store = engine()


def _csv() -> bytes:
    """Every matching record (up to the limit), built when the button is pressed."""
    with store.connect() as conn:
        return records.csv_of_records(conn, filters, CSV_LIMIT).encode()


with right:
    st.download_button(f"Download all {min(total, CSV_LIMIT):,} as CSV", _csv,
                       file_name=f"chargeline-{dataset}.csv", mime="text/csv", key="dd_csv",
                       icon=":material/download:", disabled=total == 0)
with table:
    frame = queries.record_page(url, filters, page, PAGE_SIZE)
    st.dataframe(frame, hide_index=True, key="dd_records", column_config=column_config(frame))
