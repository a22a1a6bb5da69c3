"""The e-mail outbox: digests are queued in the transaction that changed the alerts, and
a dispatcher sends them, oldest first. Each row is claimed with ``UPDATE ... WHERE
status='pending'`` and a rowcount check (portable: SQLite has no ``FOR UPDATE SKIP
LOCKED``), so two dispatchers never send the same row.

Failures are told apart by what failed:

- the relay (unreachable, refusing the connection even with a 5xx greeting, dropping
  it, refusing our login or our sender): no mail is at fault, so none is charged an
  attempt or put in backoff; the pass stops (one connection try per pass), every due
  mail stays queued with the reason, a warning says so and when it is tried again, and
  once the relay is back they go out in the order they were queued;
- one mail or recipient refused for good (5xx to its RCPT or its DATA): that row goes
  ``dead``, where the dashboard shows it and ``alerting.workflow.retry_dead`` can queue
  it again; the others are sent;
- one mail refused for now (4xx): that row retries with exponential backoff, and goes
  ``dead`` after ``MAX_ATTEMPTS``.

    pending ──claim──> sending ──ok──> sent
       ^  ^               │ relay down: attempt not counted, stays due, pass stops
       │  └───────────────┤
       └──── backoff ─────┤ 4xx for this mail (attempts < max)
                          │ 5xx for this mail or recipient, or attempts exhausted ──> dead

Every e-mail carries a Message-ID derived from its dedupe key, so the rare re-send after a
crash between the SMTP DATA and the ``sent`` mark is recognisably the same message.

Rows for on-call receivers (recipient ``webhook:<name>``, ``teams:<name>``,
``slack:<name>``; alerting/receivers.py) share the queue, the claim and the backoff: a
connection error, a timeout, 5xx, 408, 425 or 429 retries, any other 4xx goes ``dead``.
They are independent of the mail relay (a relay outage holds back e-mail alone), a
receiver that failed is not tried again in the same pass, and a row never overtakes an
older one still queued for the same receiver.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Connection, Engine

from alerting.data import outbox as queue
from alerting.digest import Digest
from alerting.mail import build_message, message_id, render, send
from alerting.receivers import (
    DeliveryError,
    is_receiver_key,
    outbox_row,
    post,
    receiver_for,
)
from core.config import ReceiverConfig, Settings

log = logging.getLogger("chargeline.alerting.outbox")

MAX_ATTEMPTS = 12  # with the backoff below: about five hours of retries before "dead"
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
CLAIM_TIMEOUT = timedelta(minutes=10)  # a row stuck in "sending" this long is retried

Sender = Callable[[EmailMessage], None]
Poster = Callable[[ReceiverConfig, str, str, datetime], None]  # receivers.post

# The mail server (or our settings for it) failed, not this message: stop the pass, so a
# dead relay costs one connection attempt per pass instead of one per queued e-mail.
_SERVER_LEVEL = (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected,
                 smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                 smtplib.SMTPSenderRefused, smtplib.SMTPHeloError)


def enqueue(conn: Connection, digests: list[Digest], settings: Settings, now: datetime) -> int:
    """Render and queue digests; a digest already queued (same dedupe key) is not re-queued."""
    rows = []
    for digest in digests:
        if is_receiver_key(digest.recipient):
            row = outbox_row(conn, digest, settings, now)
            if row is not None:
                rows.append(row)
            continue
        subject, text, html = render(digest, settings)
        rows.append({
            "dedupe_key": digest.dedupe_key,
            "message_id": message_id(digest.dedupe_key, settings.smtp.sender),
            "owner": digest.owner, "recipient": digest.recipient, "subject": subject[:300],
            "body_text": text, "body_html": html, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "last_error": "", "claimed_by": "", "created_at": now,
        })
    return queue.insert_rows(conn, rows)


def server_failed(exc: BaseException) -> bool:
    """True when the relay is unreachable or refuses us (connection, TLS, login, sender),
    whatever the reply code: a 554 greeting refuses every mail, not one."""
    if isinstance(exc, _SERVER_LEVEL):
        return True
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421:
        return True  # "service not available, closing channel"
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def is_permanent(exc: BaseException) -> bool:
    """A 5xx about this message (recipient unknown, content refused): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    if isinstance(exc, DeliveryError):
        return not exc.retryable
    return False


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour."""
    return min(BASE_BACKOFF * (2 ** min(max(attempts - 1, 0), 20)), MAX_BACKOFF)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0  # refused for now (4xx), in backoff
    dead: int = 0
    waiting: int = 0  # due but kept queued: the relay is down or refuses us
    relay_error: str = ""  # why the relay failed this pass ("" when it did not)


def _claim(engine: Engine, row_id: int, worker: str, now: datetime) -> bool:
    """Take one row for sending (counting the attempt); False when someone else has it."""
    with engine.begin() as conn:
        return queue.claim(conn, row_id, worker, now, now - CLAIM_TIMEOUT)


def dispatch(engine: Engine, settings: Settings, now: datetime, *, worker: str = "dispatcher",
             sender: Sender | None = None, poster: Poster | None = None,
             limit: int = 200) -> DispatchReport:
    """Send every due outbox row once, oldest first; classify failures (module doc)."""
    report = DispatchReport()
    deliver = sender or (lambda msg: send(settings.smtp, msg))
    with engine.connect() as conn:
        due = queue.due_rows(conn, now, now - CLAIM_TIMEOUT, limit)
    relay_down = False
    receivers_down: set[str] = set()
    for row_id, recipient in due:
        if is_receiver_key(recipient):
            if recipient in receivers_down or _waits_for_older(engine, row_id, recipient):
                continue
            if _claim(engine, row_id, worker, now) and not _to_receiver(
                    engine, row_id, settings, now, report, poster or post):
                receivers_down.add(recipient)
            continue
        if relay_down:
            continue  # e-mail waits for the relay; receivers still go out
        if not _claim(engine, row_id, worker, now):
            continue  # another dispatcher has it
        with engine.connect() as conn:
            row = queue.load_row(conn, row_id)
        msg = build_message(sender=settings.smtp.sender, recipient=row["recipient"],
                            subject=row["subject"], text=row["body_text"],
                            html=row["body_html"], msg_id=row["message_id"],
                            date_value=format_datetime(row["created_at"]))
        try:
            deliver(msg)
        except Exception as exc:
            if server_failed(exc):
                _relay_down(engine, row_id, row["attempts"] - 1, exc, settings, now, report)
                relay_down = True  # the next mails would meet the same relay
                continue
            _failed(engine, row_id, row["attempts"], exc, now, report)
            continue
        with engine.begin() as conn:
            queue.mark_sent(conn, row_id, now)
        report.sent += 1
    return report


def _relay_down(engine: Engine, row_id: int, attempts: int, exc: Exception,
                settings: Settings, now: datetime, report: DispatchReport) -> None:
    """The relay failed, not this mail: hand the row back uncharged and due, note the
    reason on every mail that waits, and say what happens next."""
    smtp = settings.smtp
    error = f"{type(exc).__name__}: {exc}"[:1900]
    with engine.begin() as conn:
        queue.release(conn, row_id, max(attempts, 0))
        waiting = queue.note_waiting_mail(conn, now, f"waiting for the mail relay: {error}")
        oldest = queue.oldest_queued_mail(conn)
    report.waiting, report.relay_error = waiting, error
    since = f", the oldest queued at {oldest:%Y-%m-%d %H:%M} UTC" if oldest else ""
    log.warning("mail relay %s:%s failed: %s — %d e-mail(s) stay queued%s, none is "
                "charged an attempt; the next dispatch pass tries again and sends them "
                "oldest first once the relay answers", smtp.host, smtp.port, error,
                waiting, since)


def _failed(engine: Engine, row_id: int, attempts: int, exc: Exception, now: datetime,
            report: DispatchReport) -> None:
    dead = is_permanent(exc) or attempts >= MAX_ATTEMPTS
    error = f"{type(exc).__name__}: {exc}"[:2000]
    wait = backoff(attempts)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # the receiver said when (429, 503): no sooner
        wait = max(wait, min(retry_after, MAX_BACKOFF))
    with engine.begin() as conn:
        queue.reschedule(conn, row_id, "dead" if dead else "pending", error, now + wait)
    if dead:
        report.dead += 1
    else:
        report.retried += 1


def _waits_for_older(engine: Engine, row_id: int, recipient: str) -> bool:
    """True while an older row to the same receiver is still queued (in backoff, or being
    sent): rows to one receiver go out in order, so a resolve never overtakes its firing."""
    with engine.connect() as conn:
        return queue.has_older_queued(conn, row_id, recipient)


def _to_receiver(engine: Engine, row_id: int, settings: Settings, now: datetime,
                 report: DispatchReport, deliver: Poster) -> bool:
    """Post one claimed receiver row; True when it was delivered."""
    with engine.connect() as conn:
        row = queue.load_row(conn, row_id)
    receiver = receiver_for(settings, row["recipient"])
    try:
        if receiver is None:
            raise DeliveryError(f"{row['recipient']}: no such receiver in the settings "
                                "(receivers:) any more", retryable=False)
        deliver(receiver, row["body_text"], row["message_id"], now)
    except Exception as exc:
        log.warning("alert receiver %s failed (attempt %d): %s", row["recipient"],
                    row["attempts"], exc)
        _failed(engine, row_id, row["attempts"], exc, now, report)
        return False
    with engine.begin() as conn:
        queue.mark_sent(conn, row_id, now)
    report.sent += 1
    return True
