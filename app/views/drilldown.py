"""Drill-down: the records behind a number, filtered, server-side paged, downloadable.

Every filter is bound to a URL query parameter, so a link in an e-mail (or from another
page) reopens exactly this view: ``/drilldown?dataset=charges&facility=FAC01&page=2``.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import streamlit as st

from app import queries
from app.resources import database_url
from app.shaping.datasets import PROBLEM_DATASETS, RECORD_SETS, TRACE_COLUMN, total_text
from app.shaping.drill import DrillFilters, parse_time
from app.tables import column_config, no_none, with_times
from app.ui import require_page, selected_rows

TRACE_PAGE = "views/lineage.py"
PAGE_SIZE = 50
CSV_LIMIT = 50_000
DEPENDENT = ("status", "channel", "page")

FILTER_KEYS = ("dataset", "facility", "search", "since", "until", "status", "channel",
               "problems", "page")

require_page("views/drilldown.py")
url = database_url()
st.title("Drill-down")


def _url_now() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


# A view's filters come from its URL alone: arriving with other parameters than this page
# last wrote (a link from another page or an e-mail), forget the previous view's widgets,
# else a bound widget would carry its old value (status=E) into the new view.
if st.session_state.get("dd_url") != _url_now():
    for name in FILTER_KEYS:
        st.session_state.pop(name, None)


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
        st.session_state["dataset"] = wanted_ds if wanted_ds in RECORD_SETS else "capture"
    dataset = c1.selectbox("Records", list(RECORD_SETS), key="dataset",
                           format_func=lambda k: RECORD_SETS[k].label, on_change=_reset,
                           args=DEPENDENT)
    st.query_params["dataset"] = dataset
    ds = RECORD_SETS[dataset]
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
money = total_text(dataset, queries.record_total(url, filters))
st.markdown(f"**{total:,}** {ds.label.lower()} match" + (f" · {money}" if money else ""),
            help="Counted and summed in the store; the table shows "
            f"{PAGE_SIZE} at a time, newest first.")
table = st.container()
left, right = st.columns([3, 2])
with left:
    page = st.pagination(pages, key="page", bind="query-params")


def _csv() -> bytes:
    """Every matching record (up to the limit), built when the button is pressed."""
    return queries.records_csv(url, filters, CSV_LIMIT)


with right:
    st.download_button(f"Download all {min(total, CSV_LIMIT):,} as CSV", _csv,
                       file_name=f"chargeline-{dataset}.csv", mime="text/csv", key="dd_csv",
                       icon=":material/download:", disabled=total == 0)
traced_by = TRACE_COLUMN.get(dataset)
with table:
    frame = no_none(with_times(queries.record_page(url, filters, page, PAGE_SIZE)))
    if traced_by:
        st.caption("Click a row to open its trace (every hop of its transaction).")
    picked = st.dataframe(frame, hide_index=True, placeholder="–", key="dd_records",
                          column_config=column_config(frame),
                          on_select="rerun" if traced_by else "ignore",
                          selection_mode="single-row")
st.session_state["dd_url"] = _url_now()
rows = selected_rows(picked) if traced_by else []
if rows and rows[0] < len(frame) and frame.iloc[rows[0]][traced_by]:
    # One click from a record to its trace; the trace links back to this very view.
    st.session_state.pop("dd_records", None)
    st.switch_page(TRACE_PAGE, query_params={
        "trace": str(frame.iloc[rows[0]][traced_by]),
        "back": urlencode(_url_now(), doseq=True)})
