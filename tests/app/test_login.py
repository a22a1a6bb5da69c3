"""Signing in: local argon2 accounts made by ``chargeline users add``, the signed cookie,
and what a signed-out visitor sees."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import session, session_token
from app.data import signin
from app.session import USER_KEY
from core import keys
from core.config import load_settings
from store.schema_app import app_audit_log
from tests.app.conftest import MAIN, PASSWORD, TIMEOUT


def _key() -> bytes:
    return keys.session_key(load_settings())


def _signed_out() -> AppTest:
    return AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()


def test_a_signed_out_visitor_sees_only_the_sign_in_form(seeded_sqlite) -> None:
    at = _signed_out()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Chargeline"]
    assert not at.metric and not at.dataframe
    assert len(at.sidebar.caption) == 0


def test_a_wrong_password_is_refused(seeded_sqlite) -> None:
    at = _signed_out()
    at.text_input(key="login_email").input("admin@test")
    at.text_input(key="login_password").input("not-it")
    at.button[0].click().run()
    assert "wrong" in at.error[0].value
    assert USER_KEY not in at.session_state


def test_a_local_account_signs_in_and_gets_a_cookie(seeded_sqlite) -> None:
    from sqlalchemy import select

    at = _signed_out()
    at.text_input(key="login_email").input("Steward@Test ")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Alerts"  # the steward's landing page
    token = at.session_state["set_cookie"]
    session_id = session_token.verify(_key(), token)
    assert session_id and "steward" not in session_id  # names a session, not the user
    with seeded_sqlite.engine.connect() as conn:
        actions = conn.execute(select(app_audit_log.c.actor, app_audit_log.c.action)).all()
        assert signin.live_session(conn, session_id, datetime.now(UTC)).email == "steward@test"
    assert ("steward@test", "login") in actions


def _sign_in(email: str, password: str) -> AppTest:
    at = _signed_out()
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_wrong_passwords_are_audited_and_throttle_the_account(seeded_sqlite) -> None:
    from sqlalchemy import select

    for _ in range(signin.ACCOUNT_LIMIT):
        at = _sign_in("steward@test", "not-it")
        assert "wrong" in at.error[0].value
    at = _sign_in("steward@test", PASSWORD)  # even the right password waits now
    assert USER_KEY not in at.session_state
    assert "Too many wrong passwords for this account" in at.error[0].value
    other = _sign_in("executive@test", PASSWORD)  # another account is not held up
    assert other.title[0].value == "Overview"
    with seeded_sqlite.engine.connect() as conn:
        rows = conn.execute(select(app_audit_log.c.action, app_audit_log.c.target)).all()
    assert rows.count(("login_failed", "steward@test")) == signin.ACCOUNT_LIMIT
    assert ("login_throttled", "steward@test") in rows
    later = datetime.now(UTC) + signin.FAILURE_WINDOW + timedelta(minutes=1)
    with seeded_sqlite.engine.connect() as conn:
        assert signin.throttled(conn, "steward@test", "", later) == ""


def test_an_address_is_throttled_across_accounts(seeded_sqlite) -> None:
    now = datetime.now(UTC)
    with seeded_sqlite.engine.begin() as conn:
        for n in range(signin.ADDRESS_LIMIT):
            signin.sign_in(conn, f"guess{n}@test", "x", "10.0.0.9", now)
        assert "from this address" in signin.throttled(conn, "admin@test", "10.0.0.9", now)
        assert signin.throttled(conn, "admin@test", "10.0.0.10", now) == ""


def test_sign_out_ends_the_session_in_the_store(seeded_sqlite) -> None:
    at = _sign_in("steward@test", PASSWORD)
    session_id = session_token.verify(_key(), at.session_state["set_cookie"])
    at.sidebar.button(key="logout").click().run()
    assert [t.value for t in at.title] == ["Chargeline"]
    with seeded_sqlite.engine.connect() as conn:
        assert signin.live_session(conn, session_id, datetime.now(UTC)) is None


def test_an_admin_ends_every_session_and_the_browsers_are_signed_out(seeded_sqlite) -> None:
    steward = _sign_in("steward@test", PASSWORD)
    admin = _sign_in("admin@test", PASSWORD)
    admin.switch_page("views/admin.py").run()
    admin.selectbox(key="adm_end_whose").select("steward@test")
    admin.button(key="adm_end_sessions").click().run()
    assert not admin.exception, admin.exception
    assert "1 session(s) ended" in admin.success[0].value
    steward.run()  # the steward's next click
    assert [t.value for t in steward.title] == ["Chargeline"]
    admin.run()  # the admin's own session is not among them
    assert admin.title[0].value == "Admin"
    admin.selectbox(key="adm_end_whose").select("")
    admin.button(key="adm_end_sessions").click().run()
    admin.run()
    assert [t.value for t in admin.title] == ["Chargeline"]


def test_an_idle_session_lapses(seeded_sqlite) -> None:
    now = datetime.now(UTC)
    with seeded_sqlite.engine.begin() as conn:
        session_id = signin.open_session(conn, "steward@test", "", now)
    with seeded_sqlite.engine.connect() as conn:
        assert signin.live_session(conn, session_id, now + signin.IDLE / 2) is not None
        assert signin.live_session(conn, session_id, now + signin.IDLE * 1.1) is None


def test_the_demo_sign_in_lists_the_accounts_make_demo_creates(seeded_sqlite,
                                                               monkeypatch) -> None:
    from chargeline import demo

    assert session.DEMO_USERS == demo.DEMO_USERS
    assert session.DEMO_PASSWORD == demo.DEMO_PASSWORD
    monkeypatch.setenv("CHARGELINE_DEMO_LOGIN", "1")
    at = _signed_out()
    shown = at.info[0].value
    assert all(email in shown for email, _ in demo.DEMO_USERS) and demo.DEMO_PASSWORD in shown


def _chargeline(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The real ``chargeline`` command (exit codes come from its error mapping)."""
    exe = Path(sys.executable).with_name("chargeline")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def test_users_add_hashes_the_password_and_users_list_shows_roles(seeded_sqlite) -> None:
    added = _chargeline("users", "add", "Owner2@Hospital.org", "--role", "interface_owner",
                        "--role", "steward", "--password-stdin", stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    assert "owner2@hospital.org: interface_owner, steward" in added.stdout
    listed = _chargeline("users", "list")
    assert "owner2@hospital.org\tinterface_owner, steward\tlocal" in listed.stdout
    bad = _chargeline("users", "add", "x@y.org", "--role", "ceo", "--oidc")
    assert bad.returncode == 2 and "unknown role 'ceo'" in bad.stderr
    at = _signed_out()
    at.text_input(key="login_email").input("owner2@hospital.org")
    at.text_input(key="login_password").input("s3cret-pass")
    at.button[0].click().run()
    assert at.title[0].value == "Interfaces"


OIDC = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback",
                 "cookie_secret": "x" * 32, "client_id": "chargeline",
                 "client_secret": "s", "server_metadata_url":
                 "https://idp.example.org/.well-known/openid-configuration"}}


def test_single_sign_on_maps_the_identity_to_the_store_roles(seeded_sqlite) -> None:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.secrets = OIDC
    at.user = {"is_logged_in": True, "email": "steward@test", "name": "A Steward"}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Alerts"  # roles come from the store, not the IdP
    stranger = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    stranger.secrets = OIDC
    stranger.user = {"is_logged_in": True, "email": "nobody@example.org"}
    stranger.run()
    assert [t.value for t in stranger.title] == ["Chargeline"]
    assert "nobody@example.org has no Chargeline role" in stranger.error[0].value
    assert stranger.button(key="login_sso")


def _browser_with_cookie(monkeypatch, token: str) -> AppTest:  # type: ignore[no-untyped-def]
    """A new browser tab whose request carries ``token`` as its sign-in cookie (AppTest
    cannot seed cookies: the context's property is replaced for the test)."""
    from streamlit.runtime.context import ContextProxy, StreamlitCookies

    cookies = StreamlitCookies({session_token.COOKIE_NAME: token})
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: cookies))
    return _signed_out()


def test_the_cookie_of_a_signed_out_session_opens_nothing(seeded_sqlite, monkeypatch) -> None:
    at = _sign_in("admin@test", PASSWORD)
    token = at.session_state["set_cookie"]
    tab = _browser_with_cookie(monkeypatch, token)
    assert tab.session_state[USER_KEY].email == "admin@test"  # the cookie signs a tab in
    assert tab.title[0].value == "Overview"  # an admin's landing page
    at.sidebar.button(key="logout").click().run()
    tab = _browser_with_cookie(monkeypatch, token)  # the same cookie, replayed
    assert not tab.exception, tab.exception
    assert [t.value for t in tab.title] == ["Chargeline"] and not tab.metric
    assert USER_KEY not in tab.session_state


def test_a_cookie_signed_with_the_public_demo_value_opens_nothing(seeded_sqlite,
                                                                  monkeypatch) -> None:
    """With no CHARGELINE_PHI_SECRET set (issue 18: every key was then the public demo
    value) the deployment generates its own secret, so a cookie signed under the demo value
    opens nothing: the pre-fix cookie (``email|expiry|hmac`` under the demo value's
    dashboard key), the present shape keyed with the demo's session key — even naming a
    live session — or with the demo value itself. The deployment's own key is the
    control."""
    monkeypatch.delenv("CHARGELINE_PHI_SECRET", raising=False)
    demo = keys.DEMO_PHI_SECRET
    pre_fix_key = hashlib.sha256(b"chargeline-dashboard-session|" + demo.encode()).digest()
    demo_session_key = keys.session_key(load_settings(phi_secret=demo))
    with seeded_sqlite.engine.begin() as conn:
        session_id = signin.open_session(conn, "admin@test", "", datetime.now(UTC))
    forged = [session_token.issue(pre_fix_key, "admin@test"),
              session_token.issue(demo_session_key, session_id),
              session_token.issue(demo_session_key, "admin@test"),
              session_token.issue(demo.encode(), session_id)]
    for token in forged:
        tab = _browser_with_cookie(monkeypatch, token)
        assert not tab.exception, tab.exception
        assert [t.value for t in tab.title] == ["Chargeline"], token
        assert USER_KEY not in tab.session_state
    assert Path("data/phi-secret").is_file()  # generated, not the demo value
    tab = _browser_with_cookie(monkeypatch, session_token.issue(_key(), session_id))
    assert tab.session_state[USER_KEY].email == "admin@test"  # the deployment's own key
    assert tab.title[0].value == "Overview"
