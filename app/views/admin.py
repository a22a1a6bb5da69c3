"""Admin: sources and their health, users and roles, quarantined records (payloads masked;
an audited reveal with a reason), the audit log, and undeliverable alert e-mail."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import actions, queries
from app.access import ROLES
from app.resources import database_url, settings
from app.shaping.interfaces import freshness_rows, freshness_table
from app.tables import column_config, styled_health
from app.ui import require_page
from core.errors import ChargelineError

PAGE_SIZE = 50

user = require_page("views/admin.py")
url = database_url()
st.title("Admin")
tab_sources, tab_users, tab_quarantine, tab_audit, tab_mail = st.tabs(
    ["Sources", "Users and roles", "Quarantine", "Audit log", "Undelivered mail"], key="adm_tab")

with tab_sources:
    configured = pd.DataFrame(
        [{"source": s.name, "kind": s.kind, "url_or_path": s.base_url or s.path,
          "enabled": s.enabled, "schedule": s.schedule.cron or f"{s.schedule.interval_seconds}s"}
         for s in settings().sources],
        columns=["source", "kind", "url_or_path", "enabled", "schedule"])
    st.subheader("Configured sources")
    if configured.empty:
        st.caption("No sources in the configuration file; the health below comes from the "
                   "collector runs in the store.")
    st.dataframe(configured, hide_index=True, placeholder="–", key="adm_sources",
                 column_config=column_config(configured))
    st.subheader("Health")
    health = freshness_rows(queries.source_freshness(url), datetime.now(UTC))
    health = freshness_table(health)
    st.dataframe(styled_health(health), hide_index=True, placeholder="–", key="adm_health",
                 column_config=column_config(health))

with tab_users:
    people = queries.users(url)
    st.dataframe(people, hide_index=True,
                 placeholder="–", key="adm_users", column_config=column_config(people))
    with st.form("adm_add_user", clear_on_submit=True):
        st.markdown("**Add or change a user**")
        email = st.text_input("E-mail", key="adm_new_email")
        roles = st.multiselect("Roles", list(ROLES), key="adm_new_roles")
        password = st.text_input("Password (empty for single sign-on only)", type="password",
                                 key="adm_new_password")
        if st.form_submit_button("Save user"):
            try:
                saved = actions.save_user(user.email, email, roles, password)
                queries.roles_for.clear()
                st.success(f"Saved {saved.email}: {', '.join(sorted(saved.roles))}")
            except ChargelineError as exc:
                st.error(str(exc))
    st.markdown("**Sessions**")
    st.caption(f"A sign-in lasts {actions.SESSION_IDLE.seconds // 60} minutes without a "
               f"page view and {actions.SESSION_ABSOLUTE.seconds // 3600} hours at most. "
               "Ending sessions signs the browsers out at their next click (yours too when it "
               "is among them).")
    s1, s2 = st.columns([2, 1], vertical_alignment="bottom")
    whose = s1.selectbox("Whose sessions", ["", *people["email"].tolist()] if not people.empty
                         else [""], key="adm_end_whose", format_func=lambda e: e or "everybody")
    if s2.button("End sessions", key="adm_end_sessions"):
        try:
            n = actions.end_sessions(user.email, whose)
            st.success(f"{n} session(s) ended.")
        except ChargelineError as exc:
            st.error(str(exc))

with tab_quarantine:
    st.caption("Records a collector could not read, kept with their reason. Payloads may "
               "carry PHI: they stay masked; revealing one needs a reason and is audited.")
    held = queries.quarantine_count(url)
    q_page = st.pagination(max(1, math.ceil(held / PAGE_SIZE)), key="adm_quarantine_page")
    rows = queries.quarantine_page(url, page=q_page, size=PAGE_SIZE)
    st.dataframe(rows, hide_index=True,
                 placeholder="–", key="adm_quarantine", column_config=column_config(rows))
    if not rows.empty:
        qid = st.selectbox("Reveal the payload of", rows["quarantine_id"].tolist(),
                           key="adm_reveal_id")
        reason = st.text_input("Reason (written to the audit log)", key="adm_reveal_reason")
        if st.button("Reveal payload", key="adm_reveal"):
            try:
                st.session_state["adm_revealed"] = (
                    qid, actions.reveal_quarantined(user, int(qid), reason))
            except (ValueError, PermissionError, LookupError, ChargelineError) as exc:
                st.error(str(exc))
        revealed = st.session_state.get("adm_revealed")
        if revealed and revealed[0] == qid:
            st.warning("Revealed payload — do not copy it outside the investigation.",
                       icon=":material/visibility:")
            st.code(revealed[1], language=None)

with tab_audit:
    total = queries.audit_count(url)
    page = st.pagination(max(1, math.ceil(total / PAGE_SIZE)), key="adm_audit_page")
    log = queries.audit_log(url, page=page, size=PAGE_SIZE)
    st.dataframe(log, hide_index=True,
                 placeholder="–", key="adm_audit", column_config=column_config(log))

with tab_mail:
    dead = queries.dead_mail(url)
    if dead.empty:
        st.caption("Every alert e-mail was delivered.")
    else:
        st.warning(f"{len(dead)} alert e-mail(s) could not be delivered after every retry.")
        st.dataframe(dead, hide_index=True,
                     placeholder="–", key="adm_dead", column_config=column_config(dead))
        if st.button("Queue them again", key="adm_retry"):
            try:
                n = actions.requeue_dead_mail(user.email)
                st.success(f"{n} e-mail(s) queued again.")
            except ChargelineError as exc:
                st.error(str(exc))
