"""Chargeline dashboard entry script: sign-in, role-aware navigation, the shared sidebar.

Run with ``chargeline dashboard`` (or ``streamlit run app/main.py``). Pages a role may
not see are never passed to ``st.navigation``, so they are not routable at all.
"""

from __future__ import annotations

import streamlit as st

from app import session
from app.access import pages_for
from app.resources import engine
from app.ui import WINDOWS
from chargeline.errors import ChargelineError
from store.engine import check_connection

st.set_page_config(page_title="Chargeline", page_icon=":material/monitoring:", layout="wide")

try:
    check_connection(engine())
    user = session.current_user()
except ChargelineError as exc:
    st.error(str(exc))
    st.stop()

if user is None:
    session.clear_cookie_after_logout()
    st.navigation([st.Page(session.login_page, title="Sign in", url_path="login")],
                  position="hidden").run()
    st.stop()

session.persist_login()
specs = pages_for(user.roles)
nav = st.navigation(
    [st.Page(p.path, title=p.title, icon=p.icon, default=(i == 0)) for i, p in enumerate(specs)]
)
with st.sidebar:
    st.selectbox("Window", list(WINDOWS), index=1, key="window", bind="query-params")
    st.caption(f"Signed in as **{user.email}**  \n{', '.join(sorted(user.roles))}")
    st.button("Sign out", on_click=session.logout, key="logout")
nav.run()
