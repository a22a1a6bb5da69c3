"""The outbox queue (``alert_outbox``): rows are queued in the transaction that changed
the alerts, claimed one at a time by a dispatcher (``UPDATE ... WHERE status='pending'``
and a rowcount check, portable where SQLite has no ``SKIP LOCKED``), then marked sent,
backed off or dead. The delivery policy (backoff, what counts as permanent) lives in
``alerting.outbox``; these functions only read and write rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from alerting.receivers import RECEIVER_TYPES
from store.schema_alerting import alert_outbox
from store.upsert import insert_ignore


def _due(now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    """Pending rows whose time has come, and rows stuck in ``sending`` since before
    ``stale_before`` (their dispatcher died)."""
    c = alert_outbox.c
    return or_(and_(c.status == "pending", c.next_attempt_at <= now),
               and_(c.status == "sending", c.claimed_at < stale_before))


def _mail_rows() -> ColumnElement[bool]:
    """Rows for e-mail recipients (not ``webhook:``/``teams:``/``slack:`` receivers)."""
    c = alert_outbox.c
    return or_(c.recipient.contains("@"),
               and_(*(~c.recipient.startswith(f"{kind}:") for kind in RECEIVER_TYPES)))


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Queue rendered rows; a row whose dedupe key is already queued is skipped. Returns
    how many were queued."""
    return insert_ignore(conn, alert_outbox, rows)


def due_rows(conn: Connection, now: datetime, stale_before: datetime, limit: int
             ) -> list[tuple[int, str]]:
    """(id, recipient) of up to ``limit`` due rows, oldest first."""
    c = alert_outbox.c
    return [(row_id, recipient) for row_id, recipient in conn.execute(
        select(c.id, c.recipient).where(_due(now, stale_before))
        .order_by(c.created_at, c.id).limit(limit))]


def claim(conn: Connection, row_id: int, worker: str, now: datetime,
          stale_before: datetime) -> bool:
    """Take one due row for sending, counting the attempt; False when someone else has it."""
    c = alert_outbox.c
    result = conn.execute(
        update(alert_outbox).where(c.id == row_id, _due(now, stale_before))
        .values(status="sending", claimed_by=worker, claimed_at=now, attempts=c.attempts + 1))
    return result.rowcount == 1


def load_row(conn: Connection, row_id: int) -> dict[str, Any]:
    """One outbox row, every column."""
    return dict(conn.execute(select(alert_outbox).where(alert_outbox.c.id == row_id))
                .mappings().one())


def mark_sent(conn: Connection, row_id: int, now: datetime) -> None:
    """The row went out at ``now``."""
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id)
                 .values(status="sent", sent_at=now, last_error=""))


def reschedule(conn: Connection, row_id: int, status: str, error: str,
               next_attempt_at: datetime) -> None:
    """Hand a failed row back as ``pending`` (tried again at ``next_attempt_at``) or
    ``dead``, with the error."""
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(
        status=status, last_error=error, next_attempt_at=next_attempt_at, claimed_by=""))


def release(conn: Connection, row_id: int, attempts: int) -> None:
    """Hand a claimed row back as pending and still due, its attempts set to ``attempts``."""
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(
        status="pending", attempts=attempts, claimed_by=""))


def note_waiting_mail(conn: Connection, now: datetime, note: str) -> int:
    """Write ``note`` on every due e-mail row (not receiver rows); return how many."""
    c = alert_outbox.c
    return conn.execute(update(alert_outbox).where(
        c.status == "pending", c.next_attempt_at <= now, _mail_rows()).values(
        last_error=note)).rowcount or 0


def oldest_queued_mail(conn: Connection) -> datetime | None:
    """When the oldest pending e-mail row was queued, or None."""
    c = alert_outbox.c
    return conn.execute(select(func.min(c.created_at)).where(
        c.status == "pending", _mail_rows())).scalar()


def has_older_queued(conn: Connection, row_id: int, recipient: str) -> bool:
    """True while a row to ``recipient`` queued before ``row_id`` is pending or sending."""
    c = alert_outbox.c
    mine = select(c.created_at).where(c.id == row_id).scalar_subquery()
    older = conn.execute(select(c.id).where(
        c.recipient == recipient, c.status.in_(("pending", "sending")), c.id != row_id,
        or_(c.created_at < mine, and_(c.created_at == mine, c.id < row_id))).limit(1))
    return older.first() is not None


def rows_by_status(conn: Connection, statuses: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of these statuses by id, without their bodies."""
    c = alert_outbox.c
    query = select(c.id, c.owner, c.recipient, c.subject, c.status, c.attempts,
                   c.last_error, c.created_at, c.next_attempt_at, c.sent_at, c.message_id
                   ).where(c.status.in_(list(statuses)))
    return [dict(r) for r in conn.execute(query.order_by(c.id)).mappings()]


def requeue_dead(conn: Connection, row_ids: Sequence[int], at: datetime, note: str) -> int:
    """Queue dead rows again (all, or ``row_ids``), due at ``at``, ``note`` prefixed to
    their last error; return how many."""
    c = alert_outbox.c
    query = update(alert_outbox).where(c.status == "dead")
    if row_ids:
        query = query.where(c.id.in_(list(row_ids)))
    done = conn.execute(query.values(
        status="pending", attempts=0, next_attempt_at=at, claimed_by="",
        last_error=note + c.last_error))
    return int(done.rowcount)
