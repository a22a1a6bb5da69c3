"""Exceptions: the queues a steward works — failed mappings, duplicate charges, missing
and late charges, inventory — by $ or by age, paged in the store; each row names what to
act on (a duplicate: the extra charge to credit) and opens its trace. Each change of status or
assignee goes through ``metrics.compute.exceptions.set_status`` and into the audit log."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import streamlit as st

from app import actions, queries
from app.resources import database_url
from app.shaping import exceptions as exceptions_view
from app.shaping.exceptions import OPEN_STATUSES, QUEUES, SORTS, QueueFilters
from app.shaping.facilities import facility_label
from app.tables import TIME_FORMAT, column_config
from app.ui import require_page, selected_rows
from core.errors import ChargelineError
from metrics.compute.exceptions import STEWARD_STATUSES

PAGE_SIZE = 25
FLASH = "ex_flash"
INPUTS = ("ex_new_status", "ex_assignee", "ex_comment")  # cleared after a save

user = require_page("views/exceptions.py")
url = database_url()
st.title("Exceptions")
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check:")
    for name in INPUTS:  # before the widgets exist: they start empty again
        st.session_state.pop(name, None)

summary = queries.exception_summary(url)
open_rows = summary[summary["status"].isin(OPEN_STATUSES)] if not summary.empty else summary
st.caption("Every open problem, whatever its date of service — the Overview counts only "
           "the window's, so its figures are smaller.")
for col, (queue, kinds) in zip(st.columns(len(QUEUES)), QUEUES.items(), strict=True):
    part = open_rows[open_rows["kind"].isin(kinds)] if not open_rows.empty else open_rows
    n = int(part["n"].sum()) if not part.empty else 0
    usd = float(part["amount"].sum()) if not part.empty else 0.0
    col.metric(queue, f"{n:,} open", f"${usd:,.0f} at stake", delta_color="off",
               delta_arrow="off", border=True)

f1, f2, f3, f4, f5 = st.columns([2, 3, 1, 1, 2])
queue = f1.selectbox("Queue", list(QUEUES), key="ex_queue", bind="query-params")
statuses = f2.multiselect("Status", STEWARD_STATUSES, default=list(OPEN_STATUSES),
                          key="ex_status", format_func=lambda s: s.replace("_", " "))
names = queries.facility_names(url)
facility = f3.selectbox("Facility", ["", *queries.facilities(url)], key="ex_facility",
                        format_func=lambda f: facility_label(f, names) or "all")
if "ex_sort" not in st.session_state:  # bound by hand: the URL carries "age", not a label
    wanted_sort = st.query_params.get("ex_sort", "")
    st.session_state["ex_sort"] = wanted_sort if wanted_sort in SORTS else SORTS[0]
sort = f4.selectbox("Sort by", SORTS, key="ex_sort",
                    format_func={"amount": "$, biggest first",
                                 "age": "age, oldest first"}.__getitem__)
st.query_params["ex_sort"] = sort
mine = f5.toggle("Assigned to me", key="ex_mine")
filters = QueueFilters(queue=queue, statuses=tuple(statuses), facility=facility,
                       assignee=user.email if mine else "", sort=sort)
total = queries.exception_count(url, filters)
pages = max(1, math.ceil(total / PAGE_SIZE))
st.markdown(f"**{total:,}** exceptions in *{queue}*")
table = st.container()
page = st.pagination(pages, key="ex_page")
frame = queries.exception_page(url, filters, page, PAGE_SIZE)
shown = exceptions_view.frame(frame, datetime.now(UTC), names)
with table:
    picked = st.dataframe(shown, hide_index=True,
                          placeholder="–", key="ex_table", on_select="rerun",
                          selection_mode="single-row", column_config=column_config(
                              shown, Amount=st.column_config.NumberColumn(
                                  "Amount", format="$%,.2f"),
                              **{"Date of service": st.column_config.DatetimeColumn(
                                  "Date of service", format=TIME_FORMAT)}))
if frame.empty:
    st.stop()

rows = selected_rows(picked)
if rows and st.session_state.get("ex_seen") != rows:
    st.session_state["ex_seen"] = rows
    st.session_state["ex_focus"] = str(frame.iloc[rows[0]]["exception_id"])
ids = frame["exception_id"].astype(str).tolist()
# One label per row (a select box tells its options apart by their labels).
labels = {i: f"{p} · {a} · {f}" for i, p, a, f in zip(
    ids, shown["Problem"], shown["Act on"], shown["Facility"], strict=True)}
if st.session_state.get("ex_focus") not in ids:
    st.session_state["ex_focus"] = ids[0]
focus = st.selectbox("Exception", ids, key="ex_focus", format_func=labels.__getitem__)
row = frame[frame["exception_id"] == focus].iloc[0].to_dict()

with st.container(border=True):
    left, right = st.columns([3, 2])
    with left:
        where = facility_label(row["facility_id"], names)
        st.markdown(f"**{exceptions_view.KIND_WORDS.get(row['kind'], row['kind'])}** · "
                    f"{exceptions_view.act_on(row)} · {where} · "
                    f"${float(row['amount']):,.2f} · status **{row['status']}**"
                    + (f" · {row['assignee']}" if row["assignee"] else ""))
        if exceptions_view.note(row):
            st.caption(exceptions_view.note(row))
        key = exceptions_view.trace_key(row)
        st.page_link("views/lineage.py", label=f"Trace {key}", icon=":material/account_tree:",
                     query_params={"trace": key})
        usage_ids = [u for u in str(row.get("usage_ids") or "").split(",") if u][:10]
        for uid in usage_ids:
            if uid != key:
                st.page_link("views/lineage.py", label=f"Trace {uid}",
                             icon=":material/account_tree:", query_params={"trace": uid})
    with right:
        status = st.selectbox("New status", STEWARD_STATUSES, key="ex_new_status",
                              index=STEWARD_STATUSES.index("investigating"))
        assignee = st.text_input("Assign to", value=str(row["assignee"] or ""),
                                 key="ex_assignee")
        comment = st.text_input("Comment", key="ex_comment")
        if st.button("Save", key="ex_save", type="primary"):
            try:
                done = actions.change_exception(user.email, focus, status, assignee.strip(),
                                                comment)
            except ChargelineError as exc:
                st.error(str(exc))
                st.stop()
            if not done:
                st.error(f"{focus} is gone (recomputed meanwhile); reload the page.")
            else:
                queries.clear_alerting()
                st.session_state[FLASH] = f"{focus}: {status}"
                st.rerun()
