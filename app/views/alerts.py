"""Alerts: the inbox of firing and recent alerts. Acknowledge, assign, set a status and
silence — through ``app.actions`` and so ``alerting.workflow``, the same functions as
``chargeline alerts``, so every action lands in the alert's history with who, when and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import streamlit as st

from alerting.workflow import STATUSES
from app import actions, queries
from app.resources import database_url, settings
from app.shaping import alerts as alerts_view
from app.tables import column_config, styled_health, with_times
from app.ui import require_page, selected_rows
from core.errors import ChargelineError

DRILL_PAGE = "views/drilldown.py"
FLASH = "al_flash"
# An action's inputs: cleared after it ran, so a comment is stamped on one action only.
INPUTS = ("al_comment", "al_assignee", "al_status", "al_silence_hours")
# Widths that keep every column on a 1440 px screen (the sidebar open); a long rule or
# scope ends in "…", the panel below names it whole.
INBOX_CONFIG = {
    "state": st.column_config.TextColumn("State", width=72),
    "rule": st.column_config.TextColumn("Rule", width=234),
    "scope": st.column_config.TextColumn("Scope", width=192),
    "level": st.column_config.TextColumn("Level", width=56),
    "value": st.column_config.TextColumn("Value", width=70, alignment="right"),
    "amount_usd": st.column_config.TextColumn("Amount", width=82, alignment="right"),
    "since": st.column_config.DatetimeColumn("Since", width=104, format="D MMM, HH:mm"),
    "handling": st.column_config.TextColumn(
        "Handling", width=120, help="acknowledged by, assigned to, status"),
}

user = require_page("views/alerts.py")
url = database_url()
now = datetime.now(UTC)
st.title("Alerts")
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check:")
    for name in INPUTS:  # before the widgets exist: they start empty again
        st.session_state.pop(name, None)

rows = queries.alerts(url)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Firing", sum(r.state == "firing" for r in rows), border=True)
c2.metric("Pending", sum(r.state == "pending" for r in rows), border=True)
c3.metric("Error / no data", sum(r.state in ("error", "nodata") for r in rows), border=True)
c4.metric("Unacknowledged firing", sum(r.state == "firing" and not r.ack_by for r in rows),
          border=True)

f1, f2 = st.columns([2, 1])
owners = sorted({r.owner for r in rows if r.owner})
owner = f1.selectbox("Owner", ["", *owners], key="al_owner", format_func=lambda o: o or "all")
recent = f2.toggle("Include resolved (72 h)", value=True, key="al_recent")
inbox = alerts_view.inbox([r for r in rows if not owner or r.owner == owner],
                          include_recent=recent, now=now)
if not inbox:
    st.success("Nothing is firing.", icon=":material/check_circle:")
    st.stop()

names = queries.facility_names(url)
units = queries.rule_units(str(settings().data_dir))
table = with_times(alerts_view.frame(inbox, names, units))
picked = st.dataframe(styled_health(table, "state"), hide_index=True,
                      placeholder="–", key="al_table",
                      on_select="rerun", selection_mode="single-row",
                      column_config=column_config(table, **INBOX_CONFIG))
labels = {r.fingerprint: alerts_view.label(r, names) for r in inbox}
linked = alerts_view.from_link(rows, {k: st.query_params[k] for k in st.query_params})
if linked is not None and st.session_state.get("al_link") != linked.fingerprint:
    st.session_state["al_link"] = linked.fingerprint  # an e-mail link focuses its alert once
    if linked.fingerprint not in labels:
        inbox.append(linked)
        labels[linked.fingerprint] = alerts_view.label(linked, names)
    st.session_state["al_focus"] = linked.fingerprint
rows_picked = selected_rows(picked)
if rows_picked and st.session_state.get("al_seen") != rows_picked:
    st.session_state["al_seen"] = rows_picked  # a new table click moves the focus once
    st.session_state["al_focus"] = inbox[rows_picked[0]].fingerprint
if st.session_state.get("al_focus") not in labels:
    st.session_state["al_focus"] = inbox[0].fingerprint
focus = st.selectbox("Alert", list(labels), key="al_focus", format_func=labels.__getitem__)
alert = next(r for r in inbox if r.fingerprint == focus)


def _act(message: str, action: Callable[..., None], *args: object) -> None:
    """Run one alert action; on success remember a message and redraw with fresh data."""
    try:
        action(*args)
    except ChargelineError as exc:
        st.error(str(exc))
        return
    queries.clear_alerting()
    st.session_state[FLASH] = message
    st.rerun()


with st.container(border=True):
    left, right = st.columns([3, 2])
    with left:
        colour = alerts_view.STATE_COLOUR.get(alert.state, "gray")
        value, amount = alerts_view.value_texts(alert, units.get(alert.rule_id, ""))
        st.markdown(f"### {alert.rule_id}\n`{alerts_view.scope_text(alert.scope)}` · "
                    f":{colour}-badge[{alert.state} {alert.level}] · value **{value or '–'}**"
                    + (f" · {amount}" if amount else ""))
        since = alert.firing_since or alert.state_since
        st.caption(f"since {since:%d %b %H:%M} UTC · owner {alert.owner or '–'} · "
                   f"acknowledged by {alert.ack_by or 'nobody'} · assignee "
                   f"{alert.assignee or 'nobody'} · status {alert.status or '–'}")
        st.page_link(DRILL_PAGE, label="Records behind this alert",
                     icon=":material/arrow_forward:",
                     query_params=alerts_view.drill_params(alert))
        history = queries.alert_history(url, alert.fingerprint)
        st.dataframe(history, hide_index=True, placeholder="–", key="al_history",
                     column_config=column_config(history))
    with right:
        comment = st.text_input("Comment", key="al_comment", placeholder="what you found")
        if alert.ack_by:
            if st.button("Unacknowledge", key="al_unack"):
                _act(f"{alert.rule_id}: acknowledgement removed", actions.unacknowledge,
                     alert.fingerprint, user.email, comment)
        elif st.button("Acknowledge", key="al_ack", type="primary"):
            _act(f"{alert.rule_id}: acknowledged by {user.email}", actions.acknowledge,
                 alert.fingerprint, user.email, comment)
        a1, a2 = st.columns([2, 1], vertical_alignment="bottom")
        assignee = a1.text_input("Assign to", value=alert.assignee, key="al_assignee")
        if a2.button("Assign", key="al_assign"):
            _act(f"{alert.rule_id}: assigned to {assignee or 'nobody'}", actions.assign,
                 alert.fingerprint, assignee.strip(), user.email, comment)
        s1, s2 = st.columns([2, 1], vertical_alignment="bottom")
        status = s1.selectbox("Status", STATUSES, key="al_status",
                              format_func=lambda s: s.replace("_", " "))
        if s2.button("Set status", key="al_set_status"):
            _act(f"{alert.rule_id}: status {status}", actions.set_alert_status,
                 alert.fingerprint, status, user.email, comment)
        matchers = alerts_view.silence_matchers(alert)
        h1, h2 = st.columns([2, 1], vertical_alignment="bottom")
        hours = h1.number_input("Silence for (hours)", min_value=1, max_value=24 * 14, value=4,
                                key="al_silence_hours")
        if h2.button("Silence", key="al_silence"):
            _act(f"{alert.rule_id}: silenced for {hours} h", actions.silence, matchers,
                 now + timedelta(hours=int(hours)), user.email, comment)
        st.caption("Silence matchers: " + ", ".join(f"`{m}`" for m in matchers))

st.subheader("Active silences")
active = queries.silences(url, now.replace(second=0, microsecond=0))
if active.empty:
    st.caption("No active silences.")
else:
    st.dataframe(active, hide_index=True, placeholder="–", key="al_silences",
                 column_config=column_config(active))
    e1, e2 = st.columns([2, 1], vertical_alignment="bottom")
    sid = e1.selectbox("Silence", active["id"].tolist(), key="al_expire_id")
    if e2.button("Expire now", key="al_expire"):
        _act(f"silence {sid} expired", actions.expire_silence, int(sid), user.email)
