"""Signing in: local argon2 accounts made by ``chargeline users add``, the signed cookie,
and what a signed-out visitor sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import session_token
from app.session import USER_KEY
from chargeline.config import DEMO_PHI_SECRET
from store.schema_app import app_audit_log
from tests.app.conftest import MAIN, PASSWORD, TIMEOUT


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
    assert session_token.verify(DEMO_PHI_SECRET, token) == "steward@test"
    with seeded_sqlite.engine.connect() as conn:
        actions = conn.execute(select(app_audit_log.c.actor, app_audit_log.c.action)).all()
    assert ("steward@test", "login") in actions


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
