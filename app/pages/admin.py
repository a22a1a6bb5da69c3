"""Admin: sources and their health, users and roles, quarantined records (masked; an
audited reveal), and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import queries
from app.interfaces_view import freshness_rows
from app.quarantine import masked_page, reveal_payload
from app.resources import database_url, engine, settings
from app.ui import require_page
from app.users import add_user, audit
from chargeline.errors import ConfigError
from store.schema_app import ROLES

user = require_page("pages/admin.py")
url = database_url()
st.title("Admin")
tab_sources, tab_users, tab_quarantine, tab_audit = st.tabs(
    ["Sources", "Users and roles", "Quarantine", "Audit log"])

with tab_sources:
    configured = pd.DataFrame(
        [{"source": s.name, "kind": s.kind, "url_or_path": s.base_url or s.path,
          "enabled": s.enabled, "schedule": s.schedule.cron or f"{s.schedule.interval_seconds}s"}
         for s in settings().sources],
        columns=["source", "kind", "url_or_path", "enabled", "schedule"])
    st.subheader("Configured sources")
    st.dataframe(configured, hide_index=True, key="adm_sources")
    st.subheader("Health")
    st.dataframe(freshness_rows(queries.source_freshness(url), datetime.now(UTC)),
                 hide_index=True, key="adm_health")

with tab_users:
    st.dataframe(queries.users(url), hide_index=True, key="adm_users")
    with st.form("adm_add_user", clear_on_submit=True):
        st.markdown("**Add or change a user**")
        email = st.text_input("E-mail", key="adm_new_email")
        roles = st.multiselect("Roles", list(ROLES), key="adm_new_roles")
        password = st.text_input("Password (empty for single sign-on only)", type="password",
                                 key="adm_new_password")
        if st.form_submit_button("Save user"):
            try:
                with engine().begin() as conn:
                    saved = add_user(conn, email, roles, password=password or None)
                    audit(conn, user.email, "user_saved", target=saved.email,
                          detail=",".join(sorted(saved.roles)))
                queries.roles_for.clear()
                st.success(f"Saved {saved.email}: {', '.join(sorted(saved.roles))}")
            except ConfigError as exc:
                st.error(str(exc))

with tab_quarantine:
    with engine().connect() as conn:
        rows = pd.DataFrame(masked_page(conn))
    st.dataframe(rows, hide_index=True, key="adm_quarantine")
    if not rows.empty:
        qid = st.selectbox("Reveal the payload of", rows["quarantine_id"].tolist(),
                           key="adm_reveal_id")
        reason = st.text_input("Reason (written to the audit log)", key="adm_reveal_reason")
        if st.button("Reveal payload", key="adm_reveal"):
            try:
                with engine().begin() as conn:
                    st.session_state["adm_revealed"] = (
                        qid, reveal_payload(conn, user, int(qid), reason))
            except (ValueError, PermissionError, LookupError) as exc:
                st.error(str(exc))
        revealed = st.session_state.get("adm_revealed")
        if revealed and revealed[0] == qid:
            st.code(revealed[1], language=None)

with tab_audit:
    st.dataframe(queries.audit_log(url), hide_index=True, key="adm_audit")
