"""Sign-in on the store side (no Streamlit here): throttled password checks, audited
failures, and server-side sessions that sign-out and an admin can end.

A browser's cookie carries a random session id; the store keeps only its SHA-256, so a
copy of the table signs nobody in. A session lapses after ``IDLE`` without a page view and
after ``ABSOLUTE`` in any case; sign-out ends it, and "end all sessions" ends every one of
a user (or of everybody). Wrong passwords are counted per account and per address over
``FAILURE_WINDOW``: past the limits, the form refuses even the right password until the
window has passed, and says so. Local passwords are for small sites and the demo; the
production path is single sign-on (``st.login``, OIDC), where the identity provider
enforces its own policy.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from app.data.users import User, audit, authenticate
from store.schema_app import app_login_failures, app_sessions

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)  # a page view refreshes last_seen_at at most this often
FAILURE_WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


@dataclass(frozen=True)
class Outcome:
    """What a sign-in attempt gave: a user and a session id, or the words to show."""

    user: User | None = None
    session_id: str = ""
    message: str = ""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def throttled(conn: Connection, email: str, address: str, now: datetime) -> str:
    """Why this account or address may not try now, or ``""``."""
    f = app_login_failures.c
    since = now - FAILURE_WINDOW
    by_account = conn.execute(select(func.count()).where(
        f.email == email, f.at >= since)).scalar_one()
    by_address = conn.execute(select(func.count()).where(
        f.address == address, f.at >= since)).scalar_one() if address else 0
    minutes = int(FAILURE_WINDOW.total_seconds() // 60)
    if by_account >= ACCOUNT_LIMIT:
        return (f"Too many wrong passwords for this account: wait {minutes} minutes, or ask "
                "an administrator to reset the password.")
    if by_address >= ADDRESS_LIMIT:
        return f"Too many wrong passwords from this address: wait {minutes} minutes."
    return ""


def sign_in(conn: Connection, email: str, password: str, address: str,
            now: datetime) -> Outcome:
    """Check the password (unless throttled); audit the attempt; open a session."""
    email = email.strip().lower()
    refused = throttled(conn, email, address, now)
    if refused:
        audit(conn, email or "?", "login_throttled", target=email, detail=address)
        return Outcome(message=refused)
    user = authenticate(conn, email, password)
    if user is None or not user.roles:
        conn.execute(insert(app_login_failures).values(at=now, email=email, address=address))
        audit(conn, email or "?", "login_failed", target=email, detail=address)
        return Outcome(message="E-mail or password is wrong, or the account has no role.")
    session_id = open_session(conn, user.email, address, now)
    audit(conn, user.email, "login", detail=address)
    return Outcome(user=user, session_id=session_id)


def open_session(conn: Connection, email: str, address: str, now: datetime) -> str:
    """A new session for ``email``; return its id (only the browser keeps it)."""
    session_id = secrets.token_urlsafe(24)
    conn.execute(insert(app_sessions).values(
        session_hash=_hash(session_id), email=email, address=address[:64], created_at=now,
        last_seen_at=now))
    return session_id


@dataclass(frozen=True)
class Session:
    """A live session: whose it is, and whether its last-seen time is worth refreshing."""

    email: str
    stale: bool


def live_session(conn: Connection, session_id: str, now: datetime) -> Session | None:
    """The session behind ``session_id`` if it is neither ended, idle nor too old."""
    s = app_sessions.c
    row = conn.execute(select(s.email, s.created_at, s.last_seen_at, s.ended_at).where(
        s.session_hash == _hash(session_id))).first()
    if row is None or row.ended_at is not None:
        return None
    if row.last_seen_at < now - IDLE or row.created_at < now - ABSOLUTE:
        return None
    return Session(row.email, row.last_seen_at < now - TOUCH_EVERY)


def touch(conn: Connection, session_id: str, now: datetime) -> None:
    """Record a page view of the session (it stays alive while used)."""
    conn.execute(update(app_sessions).where(
        app_sessions.c.session_hash == _hash(session_id),
        app_sessions.c.ended_at.is_(None)).values(last_seen_at=now))


def end_session(conn: Connection, session_id: str, now: datetime) -> None:
    """Sign-out: the session can no longer be used, from any copy of its cookie."""
    s = app_sessions.c
    open_now = (s.session_hash == _hash(session_id), s.ended_at.is_(None))
    email = conn.execute(select(s.email).where(*open_now)).scalar_one_or_none()
    if email is not None:
        conn.execute(update(app_sessions).where(*open_now).values(ended_at=now))
        audit(conn, email, "logout")


def end_all_sessions(conn: Connection, actor: str, now: datetime, email: str = "") -> int:
    """End every open session (of ``email`` only, when given); audited; return how many."""
    s = app_sessions.c
    which = [s.ended_at.is_(None), *([s.email == email] if email else [])]
    done = conn.execute(update(app_sessions).where(*which).values(ended_at=now))
    audit(conn, actor, "sessions_ended", target=email or "everybody",
          detail=f"{done.rowcount} sessions")
    return int(done.rowcount)
