"""A mail relay outage is said in the log with what happens next, charges no mail an
attempt, and once the relay answers the queue goes out oldest first; a relay refusing us
(a 554 greeting, our sender refused) is an outage too, while a 5xx to one recipient kills
that mail alone. A real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from alerting.outbox import dispatch
from alerting.service import evaluate_and_notify
from alerting.workflow import outbox_rows
from tests.alerting.factories import T0, TableReader, value
from tests.alerting.smtp_server import RecordingHandler, free_port, start
from tests.alerting.test_delivery import POLICY, READER, RULES, _settings


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def _queue_while_down(engine, settings, minutes: int) -> None:  # type: ignore[no-untyped-def]
    """Digests at T0, more ten minutes later, a dispatch pass every minute meanwhile."""
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    worse = TableReader({**READER.table, "duplicate_charge_usd": [
        value("duplicate_charge_usd", {"facility": "FAC01"}, 3, amount=7450.0),
        value("duplicate_charge_usd", {"facility": "FAC02"}, 1, amount=900.0)]})
    for minute in range(minutes):
        at = T0 + timedelta(minutes=minute)
        if minute == 10:
            evaluate_and_notify(engine, settings, worse, at, rules=RULES, policy=POLICY)
        dispatch(engine, settings, at)


def test_after_a_long_outage_the_queue_goes_out_oldest_first_at_once(
        engine, store_url, smtp_port, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(store_url, smtp_port)
    with caplog.at_level(logging.WARNING, logger="chargeline.alerting.outbox"):
        _queue_while_down(engine, settings, 30)
    warning = [r.getMessage() for r in caplog.records
               if r.name == "chargeline.alerting.outbox"][-1]
    assert f"mail relay 127.0.0.1:{smtp_port} failed: ConnectionRefusedError" in warning
    assert "3 e-mail(s) stay queued, the oldest queued at" in warning
    assert "tries again" in warning and "oldest first" in warning
    assert [r["attempts"] for r in outbox_rows(engine, ("pending",))] == [0, 0, 0]
    handler = RecordingHandler()
    server = start(handler, smtp_port)
    try:
        back = dispatch(engine, settings, T0 + timedelta(minutes=30))
    finally:
        server.stop()
    assert (back.sent, back.waiting, back.relay_error) == (3, 0, "")
    assert [m["Subject"] for m in handler.messages][-1] == \
        "[Chargeline] revenue-cycle: 1 new, 1 firing, $8,350 at stake"
    assert sorted(m["Subject"] for m in handler.messages[:2]) == [
        "[Chargeline] integration: 2 new",
        "[Chargeline] revenue-cycle: 1 new, $7,450 at stake"]


@contextmanager
def refusing_relay(port: int) -> Iterator[None]:
    """A relay that answers every connection with a 554 greeting and hangs up."""
    listener = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 5.3.2 no service for you\r\n")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_relay_refusing_the_connection_with_a_5xx_keeps_everything_queued(
        engine, store_url, smtp_port) -> None:
    settings = _settings(store_url, smtp_port)
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    with refusing_relay(smtp_port):
        report = dispatch(engine, settings, T0)
    assert (report.sent, report.dead, report.waiting) == (0, 0, 2)
    assert "554" in report.relay_error
    assert outbox_rows(engine, ("dead",)) == []


class SenderRefusing(RecordingHandler):
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        return "550 5.7.1 sender not allowed to relay"


def test_a_relay_refusing_our_sender_keeps_everything_queued(engine, store_url,
                                                             smtp_port) -> None:
    handler = SenderRefusing()
    server = start(handler, smtp_port)
    try:
        settings = _settings(store_url, smtp_port)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        report = dispatch(engine, settings, T0)
    finally:
        server.stop()
    assert (report.sent, report.dead, report.waiting) == (0, 0, 2)
    assert "SMTPSenderRefused" in report.relay_error
    assert [r["attempts"] for r in outbox_rows(engine, ("pending",))] == [0, 0]
