"""The e-mail outbox: digests are queued in the transaction that changed the alerts, and
a dispatcher sends them. Each row is claimed with ``UPDATE ... WHERE status='pending'``
(so two dispatchers never send the same row), transient SMTP failures retry with
exponential backoff, permanent ones (5xx) and rows past ``MAX_ATTEMPTS`` go ``dead``.

    pending ──claim──> sending ──ok──> sent
       ^                  │ 4xx / connection / timeout (attempts < max)
       └──── backoff ─────┘
                          │ 5xx, or attempts exhausted ──> dead (shown on the dashboard)
"""

from __future__ import annotations

import smtplib
import socket
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

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
CLAIM_TIMEOUT = timedelta(minutes=10)  # a row stuck in "sending" this long is retried

Sender = Callable[[EmailMessage], None]


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


def is_permanent(exc: BaseException) -> bool:
    """5xx answers are permanent; 4xx, disconnects, refused connections and timeouts are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                        ConnectionError, socket.timeout, TimeoutError, OSError)):
        return False
    return isinstance(exc, smtplib.SMTPException)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour."""
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def _claim(engine: Engine, row_id: int, worker: str, now: datetime) -> bool:
    c = alert_outbox.c
    with engine.begin() as conn:
        result = conn.execute(
            update(alert_outbox)
            .where(c.id == row_id, or_(c.status == "pending",
                                       and_(c.status == "sending",
                                            c.claimed_at < now - CLAIM_TIMEOUT)))
            .values(status="sending", claimed_by=worker, claimed_at=now))
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
    for row_id in due:
        if not _claim(engine, row_id, worker, now):
            continue  # another dispatcher has it
        with engine.connect() as conn:
            row = conn.execute(select(alert_outbox).where(c.id == row_id)).mappings().one()
        msg = build_message(sender=settings.smtp.sender, recipient=row["recipient"],
                            subject=row["subject"], text=row["body_text"],
                            html=row["body_html"], msg_id=row["message_id"],
                            date_value=format_datetime(row["created_at"]))
        try:
            deliver(msg)
        except Exception as exc:
            _failed(engine, row_id, row["attempts"] + 1, exc, now, report)
            continue
        with engine.begin() as conn:
            conn.execute(update(alert_outbox).where(c.id == row_id)
                         .values(status="sent", sent_at=now, attempts=row["attempts"] + 1,
                                 last_error=""))
        report.sent += 1
    return report


def _failed(engine: Engine, row_id: int, attempts: int, exc: Exception, now: datetime,
            report: DispatchReport) -> None:
    dead = is_permanent(exc) or attempts >= MAX_ATTEMPTS
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(
            status="dead" if dead else "pending", attempts=attempts, last_error=error,
            next_attempt_at=now + backoff(attempts), claimed_by=""))
    if dead:
        report.dead += 1
    else:
        report.retried += 1
