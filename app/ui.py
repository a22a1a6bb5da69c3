"""Small helpers every page shares: the time window and the role check inside a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from app import queries
from app.access import may_open
from app.resources import database_url
from app.session import USER_KEY
from app.users import User

WINDOWS: dict[str, timedelta] = {
    "24 h": timedelta(hours=24),
    "7 days": timedelta(days=7),
    "30 days": timedelta(days=30),
}


@dataclass(frozen=True)
class Window:
    """The period a page shows and the one before it (for trends)."""

    start: datetime
    end: datetime

    @property
    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)


def current_window() -> Window:
    """The sidebar's window, ending at the newest activity in the store (or now)."""
    length = WINDOWS.get(st.session_state.get("window", "7 days"), WINDOWS["7 days"])
    latest = queries.latest_activity(database_url()) or datetime.now(UTC)
    # End on the next whole hour so hourly buckets are complete and caches are shared.
    end = latest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return Window(end - length, end)


def require_page(path: str) -> User:
    """Stop the page unless the signed-in user may open it (defence in depth)."""
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, User) or not may_open(user.roles, path):
        st.error("You do not have access to this page.")
        st.stop()
    return user


def delta_text(now: float, before: float) -> str | None:
    """A trend label versus the previous period, or ``None`` when there is nothing before."""
    if before == 0:
        return None
    return f"{(now - before) / before:+.1%} vs previous period"
