"""Drill-down: the records behind a number, filtered, server-side paged, downloadable.

Every filter is bound to a URL query parameter, so a link in an e-mail reopens this view.
"""

from __future__ import annotations

import math

import streamlit as st

from app import queries
from app.datasets import DATASETS
from app.drill import DrillFilters, parse_time
from app.resources import database_url
from app.ui import require_page

PAGE_SIZE = 50

require_page("pages/drilldown.py")
url = database_url()
st.title("Drill-down")

c1, c2, c3 = st.columns([1, 2, 1])
dataset = c1.selectbox("Records", list(DATASETS), key="dataset", bind="query-params",
                       format_func=lambda k: DATASETS[k].label)
known = queries.facilities(url)
wanted = st.query_params.get_all("facility")
facility = c2.multiselect("Facility", sorted(set(known) | set(wanted)), key="facility",
                          bind="query-params")
search = c3.text_input("Id (usage, encounter, control, charge…)", key="search",
                       bind="query-params")
c4, c5, c6, c7 = st.columns(4)
since = c4.datetime_input("From (UTC)", value=None, key="since", bind="query-params")
until = c5.datetime_input("Until (UTC)", value=None, key="until", bind="query-params")
ds = DATASETS[dataset]
status = c6.text_input("Status", key="status", bind="query-params",
                       disabled=not ds.status_column)
channel = c7.text_input("Channel", key="channel", bind="query-params",
                        disabled=not ds.channel_column)

filters = DrillFilters(
    dataset=dataset, facilities=tuple(facility), channel=channel.strip(),
    status=status.strip(), search=search.strip(),
    since=parse_time(since.isoformat()) if since else None,
    until=parse_time(until.isoformat()) if until else None,
)
total = queries.record_count(url, filters)
pages = max(1, math.ceil(total / PAGE_SIZE))
st.markdown(f"**{total:,}** {ds.label.lower()} match")
page = st.pagination(pages, key="page", bind="query-params")
frame = queries.record_page(url, filters, page, PAGE_SIZE)
st.dataframe(frame, hide_index=True, key="dd_records")
st.download_button(
    f"Download page {page} as CSV", frame.to_csv(index=False).encode(),
    file_name=f"chargeline-{dataset}-p{page}.csv", mime="text/csv", key="dd_csv",
)
