"""The changes a page makes to the store, each in one short write transaction that waits
for the collector (``app.data.writes``) and lands in the audit log or the alert's history.

Pages call these with plain values and never hold a connection; after a change they clear
the caches of ``app.queries`` it made stale. Alert actions go through ``alerting.workflow``,
the same functions as ``chargeline alerts``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection

from alerting import workflow
from app.data import signin
from app.data.exceptions_queue import change_status
from app.data.quarantine import reveal_payload
from app.data.users import User, add_user, audit
from app.data.writes import retrying, write, writer
from app.resources import engine, settings
from core.sealing import sealer_for

# How long a sign-in lasts (the admin page says so next to "End sessions").
SESSION_IDLE = signin.IDLE
SESSION_ABSOLUTE = signin.ABSOLUTE
T = TypeVar("T")


def _write(work: Callable[[Connection], T]) -> T:
    return write(engine(), work)


def _alerting(action: Callable[..., T], *args: object) -> T:
    """An ``alerting.workflow`` action on the dashboard's write engine, retried while the
    collector holds the store."""
    return retrying(lambda: action(writer(engine()), *args))


# --- users, sessions, quarantine, mail (admin) ----------------------------------------------

def save_user(actor: str, email: str, roles: Sequence[str], password: str) -> User:
    """Create or change a user (no password: single sign-on only); audited as ``actor``."""
    def save(conn: Connection) -> User:
        saved = add_user(conn, email, list(roles), password=password or None)
        audit(conn, actor, "user_saved", target=saved.email,
              detail=",".join(sorted(saved.roles)))
        return saved
    return _write(save)


def end_sessions(actor: str, email: str = "") -> int:
    """End every open session (of ``email`` only, when given); return how many."""
    return _write(lambda conn: signin.end_all_sessions(conn, actor, datetime.now(UTC),
                                                       email=email))


def reveal_quarantined(viewer: User, quarantine_id: int, reason: str) -> str:
    """The payload of one quarantined record, revealed for a reason (audited)."""
    return _write(lambda conn: reveal_payload(conn, viewer, quarantine_id, reason,
                                              sealer_for(settings())))


def requeue_dead_mail(actor: str) -> int:
    """Queue every undeliverable alert e-mail again (audited); return how many."""
    n = _alerting(workflow.retry_dead, actor)
    _write(lambda conn: audit(conn, actor, "mail_requeued", detail=f"{n} e-mails"))
    return n


# --- exceptions -----------------------------------------------------------------------------

def change_exception(actor: str, exception_id: str, status: str, assignee: str,
                     comment: str) -> bool:
    """Set an exception's status and assignee (audited); ``False`` when it is gone."""
    return _write(lambda conn: change_status(conn, actor, exception_id, status, assignee,
                                             comment))


# --- alerts (each lands in the alert's history) ---------------------------------------------

def acknowledge(fingerprint: str, actor: str, comment: str) -> None:
    """Someone is on the alert."""
    _alerting(workflow.acknowledge, fingerprint, actor, comment)


def unacknowledge(fingerprint: str, actor: str, comment: str) -> None:
    """Take an acknowledgement back."""
    _alerting(workflow.unacknowledge, fingerprint, actor, comment)


def assign(fingerprint: str, assignee: str, actor: str, comment: str) -> None:
    """Give the alert to someone (empty: nobody)."""
    _alerting(workflow.assign, fingerprint, assignee, actor, comment)


def set_alert_status(fingerprint: str, status: str, actor: str, comment: str) -> None:
    """investigating, fixed, expected or false_positive, with a comment saying why."""
    _alerting(workflow.set_status, fingerprint, status, actor, comment)


def silence(matchers: Sequence[str], ends_at: datetime, actor: str, comment: str) -> None:
    """Mute the alerts ``matchers`` match until ``ends_at``."""
    _alerting(workflow.add_silence, matchers, ends_at, actor, comment)


def expire_silence(silence_id: int, actor: str) -> None:
    """End a silence now."""
    _alerting(workflow.expire_silence, silence_id, actor)
