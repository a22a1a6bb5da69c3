"""Alerts to e-mail through the outbox and a real SMTP server on loopback: one digest per
owner with text and HTML, nothing lost or doubled across a mail-server outage, and a 5xx
recipient going dead instead of retrying forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alerting.outbox import MAX_ATTEMPTS, dispatch
from alerting.policy import NotificationPolicy
from alerting.service import evaluate_and_notify
from alerting.workflow import outbox_rows
from core.config import load_settings
from rules.loader import RuleSet
from store.schema_alerting import alert_outbox, alert_state_history, rule_file_versions
from tests.alerting.factories import T0, TableReader, make_rule, value
from tests.alerting.smtp_server import RecordingHandler, free_port, start

NACK = make_rule()
DUPES = make_rule(id="duplicate-charges-usd", name="Duplicate charges ($ overcharged)",
                  metric="duplicate_charge_usd", owner="revenue-cycle",
                  stewards=["rc@example.org"], scope={"by": ["facility"]}, warn=1, fail=5000,
                  parameters={"field": "amount"}, severity="warning", unit="USD")
RULES = RuleSet((NACK, DUPES), (), {NACK.id: NACK, DUPES.id: DUPES})
POLICY = NotificationPolicy(group_wait=timedelta(0))
CH1 = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
READER = TableReader({
    "nack_rate": [value("nack_rate", CH1, 0.12, detail={"numerator": 12, "denominator": 100}),
                  value("nack_rate", {"facility": "FAC02", "channel": "FAC02_CHG_OUT"}, 0.2)],
    "duplicate_charge_usd": [value("duplicate_charge_usd", {"facility": "FAC01"}, 3,
                                   amount=7450.0)],
})


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def _settings(store_url: str, port: int):
    return load_settings(database_url=store_url, dashboard_url="http://dash.example:8501",
                         smtp={"host": "127.0.0.1", "port": port, "timeout_seconds": 5,
                               "sender": "chargeline@hospital.example"})


def test_firing_alerts_give_one_digest_per_owner_with_both_parts(engine, store_url,
                                                                 smtp_port) -> None:
    handler = RecordingHandler()
    server = start(handler, smtp_port)
    try:
        settings = _settings(store_url, smtp_port)
        report = evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        assert (report.firing, report.digests, report.queued) == (3, 2, 2)
        assert dispatch(engine, settings, T0).sent == 2
    finally:
        server.stop()
    by_to = {m["To"]: m for m in handler.messages}
    assert sorted(by_to) == ["interfaces@example.org", "rc@example.org"]
    integ = by_to["interfaces@example.org"]
    assert integ["Subject"] == "[Chargeline] integration: 2 new"
    assert integ.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in integ.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = integ.get_body(("plain",)).get_content()
    html = integ.get_body(("html",)).get_content()
    assert "== New (2) ==" in text
    assert "NACK rate per channel — channel FAC01_CHG_OUT, facility FAC01" in text
    assert ("http://dash.example:8501/alerts?channel=FAC01_CHG_OUT&facility=FAC01"
            "&rule=nack-rate") in text
    assert 'href="http://dash.example:8501/alerts?channel=FAC02_CHG_OUT&amp;facility=FAC02' in html
    rc = by_to["rc@example.org"]
    assert rc["Subject"] == "[Chargeline] revenue-cycle: 1 new, $7,450 at stake"
    assert "$7,450.00" in rc.get_body(("plain",)).get_content()
    assert "MRN" not in text and "DOE" not in text
    assert integ["Message-ID"].endswith("@hospital.example>")
    with engine.connect() as conn:
        firing = conn.execute(select(alert_state_history.c.fingerprint)
                              .where(alert_state_history.c.notify == "firing")).all()
        assert len(firing) == 3
        assert conn.execute(select(rule_file_versions)).all() == []  # in-memory rule set


def test_mail_server_outage_loses_nothing_and_doubles_nothing(engine, store_url,
                                                              smtp_port) -> None:
    settings = _settings(store_url, smtp_port)
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    down = dispatch(engine, settings, T0)  # nothing listens on the port
    assert (down.sent, down.retried, down.dead, down.waiting) == (0, 0, 0, 2)
    assert "ConnectionRefusedError" in down.relay_error
    # the relay, not a mail, failed: every pass tries it again, nobody is charged for it
    assert dispatch(engine, settings, T0 + timedelta(seconds=5)).waiting == 2
    # more alerts fire while the server is down
    later = T0 + timedelta(minutes=10)
    worse = TableReader({**READER.table, "duplicate_charge_usd": [
        value("duplicate_charge_usd", {"facility": "FAC01"}, 3, amount=7450.0),
        value("duplicate_charge_usd", {"facility": "FAC02"}, 1, amount=900.0)]})
    evaluate_and_notify(engine, settings, worse, later, rules=RULES, policy=POLICY)
    handler = RecordingHandler()
    server = start(handler, smtp_port)
    try:
        first = dispatch(engine, settings, later + timedelta(minutes=1), worker="a")
        second = dispatch(engine, settings, later + timedelta(minutes=1), worker="b")
        third = dispatch(engine, settings, later + timedelta(hours=2), worker="a")
    finally:
        server.stop()
    assert (first.sent, second.sent, third.sent) == (3, 0, 0)
    # oldest first: the two digests of T0, then the one of ten minutes later
    assert handler.messages[-1]["Subject"] == \
        "[Chargeline] revenue-cycle: 1 new, 1 firing, $8,350 at stake"
    ids = [m["Message-ID"] for m in handler.messages]
    assert len(ids) == len(set(ids)) == 3
    subjects = sorted(m["Subject"] for m in handler.messages)
    assert subjects == ["[Chargeline] integration: 2 new",
                        "[Chargeline] revenue-cycle: 1 new, $7,450 at stake",
                        "[Chargeline] revenue-cycle: 1 new, 1 firing, $8,350 at stake"]
    assert outbox_rows(engine, ("pending", "sending", "dead")) == []


def test_a_5xx_recipient_goes_dead_instead_of_retrying_forever(engine, store_url,
                                                               smtp_port) -> None:
    handler = RecordingHandler(reject=frozenset({"rc@example.org"}))
    server = start(handler, smtp_port)
    try:
        settings = _settings(store_url, smtp_port)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        report = dispatch(engine, settings, T0)
        assert (report.sent, report.dead) == (1, 1)
        for hour in range(1, 4):
            assert dispatch(engine, settings, T0 + timedelta(hours=hour)).sent == 0
    finally:
        server.stop()
    assert [m["To"] for m in handler.messages] == ["interfaces@example.org"]
    dead = outbox_rows(engine, ("dead",))
    assert [(r["recipient"], r["attempts"]) for r in dead] == [("rc@example.org", 1)]
    assert "550" in dead[0]["last_error"]


def test_a_relay_that_stays_down_kills_no_mail(engine, store_url, smtp_port) -> None:
    settings = _settings(store_url, smtp_port)  # no server: connection refused every time
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    at = T0
    for _ in range(MAX_ATTEMPTS + 2):
        assert dispatch(engine, settings, at).waiting == 2
        at += timedelta(hours=2)
    with engine.connect() as conn:
        rows = conn.execute(select(alert_outbox.c.status, alert_outbox.c.attempts,
                                   alert_outbox.c.last_error)).all()
    assert sorted((r.status, r.attempts) for r in rows) == [("pending", 0), ("pending", 0)]
    assert all(r.last_error.startswith("waiting for the mail relay: ConnectionRefusedError")
               for r in rows)


class TemporarilyRefusing(RecordingHandler):
    """Answers 451 (try again later) to one recipient's RCPT."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.address:
            return "451 4.3.0 mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_mail_refused_for_now_stops_after_the_attempt_limit(engine, store_url,
                                                               smtp_port) -> None:
    handler = TemporarilyRefusing("rc@example.org")
    server = start(handler, smtp_port)
    try:
        settings = _settings(store_url, smtp_port)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        at = T0
        for _ in range(MAX_ATTEMPTS + 2):
            dispatch(engine, settings, at)
            at += timedelta(hours=2)
    finally:
        server.stop()
    with engine.connect() as conn:
        rows = conn.execute(select(alert_outbox.c.recipient, alert_outbox.c.status,
                                   alert_outbox.c.attempts)).all()
    assert sorted(tuple(r) for r in rows) == [("interfaces@example.org", "sent", 1),
                                              ("rc@example.org", "dead", MAX_ATTEMPTS)]
