"""The e-mail outbox: digests are queued in the transaction that changed the alerts, and
a dispatcher sends them. Each row is claimed with ``UPDATE ... WHERE status='pending'``
and a rowcount check (portable: SQLite has no ``FOR UPDATE SKIP LOCKED``), so two
dispatchers never send the same row. Transient failures retry with exponential backoff;
a 5xx about the message and rows past ``MAX_ATTEMPTS`` go ``dead``, where the dashboard
shows them and ``alerting.workflow.retry_dead`` can queue them again.

    pending ──claim──> sending ──ok──> sent
       ^                  │ 4xx / connection / timeout (attempts < max)
       └──── backoff ─────┘
                          │ 5xx, or attempts exhausted ──> dead (shown on the dashboard)

Every e-mail carries a Message-ID derived from its dedupe key, so the rare re-send after a
crash between the SMTP DATA and the ``sent`` mark is recognisably the same message.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Connection, Engine, and_, or_, select, update

from alerting.digest import Digest
from alerting.mail import build_message, message_id, render, send
from chargeline.config import Settings
from store.schema_alerting import alert_outbox
from store.upsert import insert_ignore

MAX_ATTEMPTS = 12  # with the backoff below: about five hours of retries before "dead"
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
CLAIM_TIMEOUT = timedelta(minutes=10)  # a row stuck in "sending" this long is retried

Sender = Callable[[EmailMessage], None]

# The mail server (or our settings for it) failed, not this message: stop the pass, so a
# dead relay costs one connection attempt per pass instead of one per queued e-mail.
_SERVER_LEVEL = (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected,
                 smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                 smtplib.SMTPSenderRefused, smtplib.SMTPHeloError)


def enqueue(conn: Connection, digests: list[Digest], settings: Settings, now: datetime) -> int:
    """Render and queue digests; a digest already queued (same dedupe key) is not re-queued."""
    rows = []
    for digest in digests:
        subject, text, html = render(digest, settings)
        rows.append({
            "dedupe_key": digest.dedupe_key,
            "message_id": message_id(digest.dedupe_key, settings.smtp.sender),
            "owner": digest.owner, "recipient": digest.recipient, "subject": subject[:300],
            "body_text": text, "body_html": html, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "last_error": "", "claimed_by": "", "created_at": now,
        })
    return insert_ignore(conn, alert_outbox, rows)


def server_failed(exc: BaseException) -> bool:
    """True when the relay is unreachable or refuses us (connection, TLS, login, sender)."""
    if isinstance(exc, _SERVER_LEVEL):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def is_permanent(exc: BaseException) -> bool:
    """A 5xx about this message (recipient unknown, content refused): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour."""
    return min(BASE_BACKOFF * (2 ** min(max(attempts - 1, 0), 20)), MAX_BACKOFF)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0  # failed without a try: the mail server had already failed this pass


def _claim(engine: Engine, row_id: int, worker: str, now: datetime) -> bool:
    """Take one row for sending (counting the attempt); False when someone else has it."""
    c = alert_outbox.c
    with engine.begin() as conn:
        result = conn.execute(
            update(alert_outbox)
            .where(c.id == row_id, or_(and_(c.status == "pending", c.next_attempt_at <= now),
                                       and_(c.status == "sending",
                                            c.claimed_at < now - CLAIM_TIMEOUT)))
            .values(status="sending", claimed_by=worker, claimed_at=now,
                    attempts=c.attempts + 1))
        return result.rowcount == 1


def dispatch(engine: Engine, settings: Settings, now: datetime, *, worker: str = "dispatcher",
             sender: Sender | None = None, limit: int = 200) -> DispatchReport:
    """Send every due outbox row once; classify failures into retry or dead."""
    c = alert_outbox.c
    report = DispatchReport()
    deliver = sender or (lambda msg: send(settings.smtp, msg))
    with engine.connect() as conn:
        due = conn.execute(
            select(c.id).where(or_(and_(c.status == "pending", c.next_attempt_at <= now),
                                   and_(c.status == "sending",
                                        c.claimed_at < now - CLAIM_TIMEOUT)))
            .order_by(c.id).limit(limit)).scalars().all()
    server_error: Exception | None = None
    for row_id in due:
        if not _claim(engine, row_id, worker, now):
            continue  # another dispatcher has it
        with engine.connect() as conn:
            row = conn.execute(select(alert_outbox).where(c.id == row_id)).mappings().one()
        if server_error is not None:
            # The relay already failed this pass: count the attempt without another try.
            _failed(engine, row_id, row["attempts"], server_error, now, report)
            report.deferred += 1
            continue
        msg = build_message(sender=settings.smtp.sender, recipient=row["recipient"],
                            subject=row["subject"], text=row["body_text"],
                            html=row["body_html"], msg_id=row["message_id"],
                            date_value=format_datetime(row["created_at"]))
        try:
            deliver(msg)
        except Exception as exc:
            _failed(engine, row_id, row["attempts"], exc, now, report)
            if server_failed(exc):
                server_error = exc
            continue
        with engine.begin() as conn:
            conn.execute(update(alert_outbox).where(c.id == row_id)
                         .values(status="sent", sent_at=now, last_error=""))
        report.sent += 1
    return report


def _failed(engine: Engine, row_id: int, attempts: int, exc: Exception, now: datetime,
            report: DispatchReport) -> None:
    dead = is_permanent(exc) or attempts >= MAX_ATTEMPTS
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(
            status="dead" if dead else "pending", last_error=error,
            next_attempt_at=now + backoff(attempts), claimed_by=""))
    if dead:
        report.dead += 1
    else:
        report.retried += 1
