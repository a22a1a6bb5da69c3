"""Small helpers every page shares: the current window, the role check inside a page,
trend labels and reading a table selection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from app import queries
from app.access import may_open
from app.data.users import User
from app.resources import database_url
from app.session import USER_KEY
from app.shaping.window import WINDOWS, Window, grain_of, window_caption, window_ending

__all__ = ["WINDOWS", "Window", "current_window", "delta_style", "delta_text", "grain_of",
           "require_page", "selected_rows", "window_caption"]


def current_window() -> Window:
    """The sidebar's window, ending after the newest hour of activity (or the current hour)."""
    length = WINDOWS.get(st.session_state.get("window", "7 days"), WINDOWS["7 days"])
    latest = queries.latest_activity(database_url()) or datetime.now(UTC)
    return window_ending(latest, length)


def require_page(path: str) -> User:
    """Stop the page unless the signed-in user may open it (defence in depth)."""
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, User) or not may_open(user.roles, path):
        st.error("You do not have access to this page.")
        st.stop()
    return user


UNCHANGED = "±"


def delta_text(now: float | None, before: float | None, unit: str) -> str | None:
    """The change versus the previous period (points for %, relative otherwise), or
    ``None`` when either period has no value. A change that rounds to zero at the shown
    precision is ``±0.0 pts`` / ``±0.0%``, never ``-0.0``."""
    if now is None or before is None:
        return None
    if unit == "%":
        change, text = now - before, "{:+.1f} pts"
    elif before == 0:
        return None
    else:
        change, text = (now - before) / abs(before), "{:+.1%}"
    shown = text.format(change)
    if float(shown.rstrip(" pts%")) == 0:
        return UNCHANGED + text.format(0.0)[1:]
    return shown


def delta_style(text: str | None, good_high: bool) -> dict[str, str]:
    """How a card shows its change: an unchanged one without an arrow, in grey; else the
    arrow of its sign, green when it moves the good way."""
    if text is not None and text.startswith(UNCHANGED):
        return {"delta_color": "off", "delta_arrow": "off"}
    return {"delta_color": "normal" if good_high else "inverse", "delta_arrow": "auto"}


def selected_rows(state: Any) -> list[int]:
    """The selected row positions of a ``st.dataframe`` with ``on_select`` (an empty list
    when nothing is selected; AppTest may hand back a plain dict)."""
    selection = getattr(state, "selection", None)
    if selection is None and isinstance(state, dict):
        selection = state.get("selection", {})
    if selection is None:
        return []
    rows = getattr(selection, "rows", None)
    if rows is None and isinstance(selection, dict):
        rows = selection.get("rows", [])
    return [int(r) for r in rows or []]
