"""Who is signed in: local login form, the signed session cookie, and OIDC through
``st.login`` (the production path: the identity provider enforces its own password and
MFA policy; local accounts are for small sites and the demo).

A form sign-in opens a server-side session (``app.data.signin``); the cookie names it, signed
with a key derived from the deployment secret. Every run re-checks the session, so a
sign-out or an admin's "end all sessions" signs the browser out everywhere, and a session
idle for ``signin.IDLE`` lapses. Sign-in writes wait for the collector (``app.data.writes``).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime

import streamlit as st

from app import queries, session_token
from app.data import signin
from app.data.users import User
from app.data.writes import write
from app.resources import database_url, engine, settings
from core import keys
from core.errors import StoreError

USER_KEY = "auth_user"
SESSION_KEY = "auth_session"
# The accounts ``make demo`` creates (chargeline.demo; a test keeps the two the same).
DEMO_USERS = (("cfo@demo.example", "executive"), ("interfaces@demo.example", "interface_owner"),
              ("steward@demo.example", "steward"), ("admin@demo.example", "admin"))
DEMO_PASSWORD = "chargeline-demo"  # noqa: S105 - the documented demo password, demo mode only


def demo_mode() -> bool:
    """Whether the sign-in form offers the demo accounts (CHARGELINE_DEMO_LOGIN=1)."""
    return os.environ.get("CHARGELINE_DEMO_LOGIN", "") == "1"


def oidc_configured() -> bool:
    """Whether ``[auth]`` secrets are present (then ``st.login`` is offered)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return False


def _key() -> bytes:
    return keys.session_key(settings())


def _with_current_roles(email: str) -> User | None:
    roles = frozenset(queries.roles_for(database_url(), email))
    return User(email, roles) if roles else None


def _address() -> str:
    """The browser's address as the server sees it ("" when unknown)."""
    try:
        return str(st.context.ip_address or "")
    except Exception:  # no client (a test runtime): unknown
        return ""


def _session_email(session_id: str) -> str | None:
    """The owner of a live session, refreshing its last-seen time now and then (a failed
    refresh only shortens the session: the page is still shown)."""
    now = datetime.now(UTC)
    with engine().connect() as conn:
        live = signin.live_session(conn, session_id, now)
    if live is not None and live.stale:
        with contextlib.suppress(StoreError):
            write(engine(), lambda conn: signin.touch(conn, session_id, now))
    return live.email if live is not None else None


def current_user() -> User | None:
    """The signed-in user with roles re-read from the store, or ``None``."""
    user = st.session_state.get(USER_KEY)
    session_id = st.session_state.get(SESSION_KEY, "")
    if isinstance(user, User):
        # A form sign-in carries its session: ended or idle, the user is signed out.
        live = _session_email(session_id) if session_id else user.email
        user = _with_current_roles(user.email) if live == user.email else None
    if user is None and not st.session_state.get("cookie_blocked"):
        # Cookies are those the browser sent when this session connected.
        token = st.context.cookies.get(session_token.COOKIE_NAME)
        session_id = session_token.verify(_key(), token) if isinstance(token, str) else ""
        email = _session_email(session_id) if session_id else None
        if email:
            user = _with_current_roles(email)
            st.session_state[SESSION_KEY] = session_id
    if user is None and oidc_configured() and st.user.is_logged_in and st.user.get("email"):
        user = _with_current_roles(str(st.user.get("email")))
    if user is None:
        st.session_state.pop(USER_KEY, None)
        st.session_state.pop(SESSION_KEY, None)
    else:
        st.session_state[USER_KEY] = user
    return user


def cookie_script(value: str, max_age: int) -> str:
    """The snippet that sets the sign-in cookie: SameSite=Strict, and Secure whenever the
    page is served over HTTPS (behind a TLS proxy), so the browser never sends it in clear.
    It cannot be HttpOnly: Streamlit has no server-side cookie API, so the browser sets it
    from script. The cookie only names a server-side session, which sign-out and an
    admin end and which lapses after ``signin.IDLE``."""
    return (f"<script>document.cookie = '{session_token.COOKIE_NAME}={value}; path=/; "
            f"max-age={max_age}; SameSite=Strict' + "
            "(window.location.protocol === 'https:' ? '; Secure' : '');</script>")


def _set_cookie(value: str, max_age: int) -> None:
    st.html(cookie_script(value, max_age), unsafe_allow_javascript=True, width="content")


def login_page() -> None:
    """The sign-in page: local accounts, and SSO when OIDC is configured."""
    st.title("Chargeline")
    st.caption("Charge capture and supply-chain data quality")
    if oidc_configured():
        st.button("Sign in with single sign-on", on_click=st.login, key="login_sso")
        if st.user.is_logged_in:
            st.error(f"{st.user.get('email')} has no Chargeline role; ask an administrator.")
    demo = demo_mode()
    if demo:
        st.info("Demo accounts, password **" + DEMO_PASSWORD + "**:  \n" + "  \n".join(
            f"`{email}` — {role.replace('_', ' ')}" for email, role in DEMO_USERS))
    with st.form("login_form"):
        email = st.text_input("E-mail", value=DEMO_USERS[0][0] if demo else "",
                              key="login_email")
        password = st.text_input(
            "Password", type="password", value=DEMO_PASSWORD if demo else "", key="login_password"
        )
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            outcome = write(engine(), lambda conn: signin.sign_in(
                conn, email, password, _address(), datetime.now(UTC)))
        except StoreError as exc:
            st.error(str(exc))
            return
        if outcome.user is None:
            st.error(outcome.message)
            return
        st.session_state[USER_KEY] = outcome.user
        st.session_state[SESSION_KEY] = outcome.session_id
        st.session_state.pop("cookie_blocked", None)
        st.session_state["set_cookie"] = session_token.issue(_key(), outcome.session_id)
        st.rerun()


def persist_login() -> None:
    """After a form login, hand the browser its signed cookie. The snippet is emitted on
    every run of the session (it is identical, so the browser keeps one element): a run
    cut short by a page switch would otherwise drop it before the browser saw it."""
    token = st.session_state.get("set_cookie")
    if token:
        _set_cookie(token, session_token.LIFETIME_SECONDS)


def logout() -> None:
    """End the session in the store, forget the user here, in the browser cookie and at
    the identity provider."""
    session_id = st.session_state.pop(SESSION_KEY, "")
    if session_id:
        # A store that stayed busy leaves the session to lapse after signin.IDLE.
        with contextlib.suppress(StoreError):
            write(engine(), lambda conn: signin.end_session(conn, session_id,
                                                            datetime.now(UTC)))
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop("set_cookie", None)
    st.session_state["logged_out"] = True
    st.session_state["cookie_blocked"] = True  # this session's cookie header is stale now
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def clear_cookie_after_logout() -> None:
    """Expire the browser's sign-in cookie after a sign-out (once)."""
    if st.session_state.pop("logged_out", False):
        _set_cookie("", 0)
