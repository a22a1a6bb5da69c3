"""Admin: quarantined payloads stay masked; revealing one needs the admin role and a
reason, and is written to the audit log before it is shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.data.quarantine import MASK, reveal_payload
from app.data.users import User
from store.schema import quarantined_records
from store.schema_app import app_audit_log
from tests.app.conftest import page_text, signed_in
from tests.app.factories import FAKE_PHI, FAKE_PHI_2


def _quarantine_tab():
    at = signed_in("admin").run()
    at.switch_page("views/admin.py").run()
    assert not at.exception, at.exception
    return at


def _audit(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(app_audit_log).where(
            app_audit_log.c.action == "reveal_phi")).mappings()]


def test_payloads_are_masked_and_a_reveal_needs_a_reason(seeded) -> None:
    at = _quarantine_tab()
    table = next(df.value for df in at.dataframe if "quarantine_id" in df.value.columns)
    assert set(table["raw_payload"]) == {MASK}
    assert "DOE^JANE" not in page_text(at)
    at.button(key="adm_reveal").click().run()
    assert any("reason" in e.value for e in at.error)
    assert _audit(seeded.engine) == []
    assert "DOE^JANE" not in page_text(at)


def test_an_audited_reveal_shows_the_payload(seeded) -> None:
    at = _quarantine_tab()
    chosen = at.selectbox(key="adm_reveal_id").value
    at.text_input(key="adm_reveal_reason").input("INC-4471 malformed PID from OR")
    at.button(key="adm_reveal").click().run()
    assert not at.exception, at.exception
    (entry,) = _audit(seeded.engine)
    assert (entry["actor"], entry["target"], entry["reason"]) == (
        "admin@test", f"quarantined_records/{chosen}", "INC-4471 malformed PID from OR")
    with seeded.engine.connect() as conn:
        raw = conn.execute(select(quarantined_records.c.raw_payload).where(
            quarantined_records.c.quarantine_id == int(chosen))).scalar_one()
    assert at.code[0].value == raw
    assert raw in (FAKE_PHI, FAKE_PHI_2)


def test_only_the_admin_role_may_reveal(seeded_sqlite) -> None:
    with seeded_sqlite.engine.begin() as conn:
        with pytest.raises(PermissionError):
            reveal_payload(conn, User("steward@test", frozenset({"steward"})), 1,
                           "a good long reason")
        with pytest.raises(LookupError):
            reveal_payload(conn, User("admin@test", frozenset({"admin"})), 999,
                           "a good long reason")
    assert _audit(seeded_sqlite.engine) == []


def test_dead_mail_can_be_queued_again(seeded_sqlite) -> None:
    at = _quarantine_tab()
    assert any("could not be delivered" in w.value for w in at.warning)
    at.button(key="adm_retry").click().run()
    assert "1 e-mail(s) queued again." in at.success[0].value
