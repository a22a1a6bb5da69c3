"""The dashboard's writes while another process keeps the SQLite store's write lock busy
(as the collector does on its ticks): sign-in, acknowledge, assign, status and an
exception's status all wait their turn — no error on any page, no traceback, every write
stored once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from rules.evaluate import fingerprint
from store.schema_alerting import alert_actions
from store.schema_app import app_audit_log
from store.schema_metrics import metric_exceptions
from tests.app.conftest import MAIN, PASSWORD, TIMEOUT
from tests.app.lock_holder import holding_writes

CAPTURE = fingerprint("charge-capture", {"facility": "FAC01", "item_class": "IMPLANT"})
SIGN_INS = 4
ROUNDS = 3


def _clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _sign_in(email: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    _clean(at)
    return at


def _count(engine, stmt) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_sign_in_and_steward_actions_wait_for_a_busy_writer(seeded_sqlite) -> None:
    engine = seeded_sqlite.engine
    with holding_writes(seeded_sqlite.url) as ticks:
        for _ in range(SIGN_INS):
            at = _sign_in("steward@test")
            assert at.title[0].value == "Alerts"
        for n in range(ROUNDS):
            at.button(key="al_ack").click().run()
            _clean(at)
            at.button(key="al_unack").click().run()
            _clean(at)
            at.text_input(key="al_assignee").input(f"rc-{n}@example.org")
            at.button(key="al_assign").click().run()
            _clean(at)
            at.selectbox(key="al_status").select("investigating")
            at.button(key="al_set_status").click().run()
            _clean(at)
        at.switch_page("views/exceptions.py").run()
        _clean(at)
        focus = at.selectbox(key="ex_focus").value
        at.selectbox(key="ex_new_status").select("acknowledged")
        at.button(key="ex_save").click().run()
        _clean(at)
        commits = int(Path(ticks).read_text())
    assert commits > SIGN_INS  # the writer kept committing while the dashboard wrote
    logins = select(func.count()).where(app_audit_log.c.action == "login",
                                        app_audit_log.c.actor == "steward@test")
    assert _count(engine, logins) == SIGN_INS
    actions = select(func.count()).where(alert_actions.c.fingerprint == CAPTURE)
    assert _count(engine, actions) == 4 * ROUNDS
    status = select(metric_exceptions.c.status).where(
        metric_exceptions.c.exception_id == focus)
    with engine.connect() as conn:
        assert conn.execute(status).scalar_one() == "acknowledged"
