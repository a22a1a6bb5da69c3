"""Who is signed in: local login form, the signed cookie, and OIDC through ``st.login``."""

from __future__ import annotations

import os

import streamlit as st

from app import queries, session_token
from app.resources import database_url, engine, settings
from app.users import User, audit, authenticate

USER_KEY = "auth_user"
DEMO_USERS = ("admin@demo", "exec@demo", "owner@demo", "steward@demo")
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo password, demo mode only


def demo_mode() -> bool:
    """Whether the sign-in form offers the demo accounts (CHARGELINE_DEMO_LOGIN=1)."""
    return os.environ.get("CHARGELINE_DEMO_LOGIN", "") == "1"


def oidc_configured() -> bool:
    """Whether ``[auth]`` secrets are present (then ``st.login`` is offered)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return False


def _secret() -> str:
    return settings().phi_secret.get_secret_value()


def _with_current_roles(email: str) -> User | None:
    roles = frozenset(queries.roles_for(database_url(), email))
    return User(email, roles) if roles else None


def current_user() -> User | None:
    """The signed-in user with roles re-read from the store, or ``None``."""
    user = st.session_state.get(USER_KEY)
    if isinstance(user, User):
        user = _with_current_roles(user.email)
    if user is None and not st.session_state.get("cookie_blocked"):
        # Cookies are those the browser sent when this session connected.
        token = st.context.cookies.get(session_token.COOKIE_NAME)
        email = session_token.verify(_secret(), token) if isinstance(token, str) else None
        if email:
            user = _with_current_roles(email)
    if user is None and oidc_configured() and st.user.is_logged_in and st.user.get("email"):
        user = _with_current_roles(str(st.user.get("email")))
    if user is None:
        st.session_state.pop(USER_KEY, None)
    else:
        st.session_state[USER_KEY] = user
    return user


def _set_cookie(value: str, max_age: int) -> None:
    # Streamlit has no server-side cookie API; the browser sets it from this snippet.
    st.html(
        f"<script>document.cookie = '{session_token.COOKIE_NAME}={value}; path=/; "
        f"max-age={max_age}; SameSite=Strict';</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


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
        st.info(
            "Demo accounts: " + ", ".join(DEMO_USERS) + f" — password **{DEMO_PASSWORD}**"
        )
    with st.form("login_form"):
        email = st.text_input("E-mail", value="admin@demo" if demo else "", key="login_email")
        password = st.text_input(
            "Password", type="password", value=DEMO_PASSWORD if demo else "", key="login_password"
        )
        submitted = st.form_submit_button("Sign in")
    if submitted:
        with engine().begin() as conn:
            user = authenticate(conn, email, password)
            if user is not None:
                audit(conn, user.email, "login")
        if user is None or not user.roles:
            st.error("E-mail or password is wrong, or the account has no role.")
            return
        st.session_state[USER_KEY] = user
        st.session_state.pop("cookie_blocked", None)
        st.session_state["set_cookie"] = session_token.issue(_secret(), user.email)
        st.rerun()


def persist_login() -> None:
    """After a form login, hand the browser its signed cookie. The snippet is emitted on
    every run of the session (it is identical, so the browser keeps one element): a run
    cut short by a page switch would otherwise drop it before the browser saw it."""
    token = st.session_state.get("set_cookie")
    if token:
        _set_cookie(token, session_token.LIFETIME_SECONDS)


def logout() -> None:
    """Forget the user here, in the browser cookie and at the identity provider."""
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
