"""Chargeline dashboard entry script: sign-in, role-aware navigation, the shared sidebar.

Run with ``chargeline dashboard`` (or ``streamlit run app/main.py``). Pages a role may
not see are never passed to ``st.navigation``, so they are not routable at all. Signed
out, every page's URL shows the sign-in form and keeps its query parameters, so a deep
link from an e-mail opens its view right after signing in.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import OperationalError

from app import session
from app.access import PAGES, home_for, sections_for
from app.resources import engine
from app.ui import WINDOWS
from core.errors import ChargelineError
from store.engine import check_connection

st.set_page_config(page_title="Chargeline", page_icon=":material/monitoring:", layout="wide")

try:
    check_connection(engine())
    user = session.current_user()
except ChargelineError as exc:
    st.error(str(exc))
    st.stop()
except OperationalError as exc:
    st.error(f"The store did not answer ({str(exc.orig or exc).strip()}); reload the page "
             "in a minute.", icon=":material/database:")
    st.stop()

if user is None:
    session.clear_cookie_after_logout()
    login = [st.Page(session.login_page, title="Sign in", url_path="login", default=True)]
    login += [st.Page(session.login_page, title="Sign in", url_path=p.url_path) for p in PAGES]
    st.navigation(login, position="hidden").run()
    st.stop()

home = home_for(user.roles)


def landing() -> None:
    """The root URL: each role lands on the page that answers its question first. Every
    real page keeps its own URL path, so deep links to any of them work."""
    st.switch_page(home)


nav = st.navigation({
    "": [st.Page(landing, title="Home", url_path="home", default=True, visibility="hidden")],
    **{section: [st.Page(p.path, title=p.title, icon=p.icon) for p in specs]
       for section, specs in sections_for(user.roles).items()},
})
with st.sidebar:
    session.persist_login()
    st.selectbox("Window", list(WINDOWS), index=1, key="window", bind="query-params")
    st.caption(f"Signed in as `{user.email}`  \n{', '.join(sorted(user.roles))}")
    st.button("Sign out", on_click=session.logout, key="logout")
try:
    nav.run()
except OperationalError as exc:
    # No page shows a traceback: a store that stayed locked or went away is said in words.
    st.error(f"The store did not answer ({str(exc.orig or exc).strip()}): nothing was "
             "changed. Reload the page in a minute; if it persists, check that the database "
             "is reachable.", icon=":material/database:")

