"""The period a page shows and the one before it (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOWS: dict[str, timedelta] = {
    "24 h": timedelta(hours=24),
    "7 days": timedelta(days=7),
    "30 days": timedelta(days=30),
}


@dataclass(frozen=True)
class Window:
    """A half-open UTC period ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def previous(self) -> Window:
        """The period of the same length just before this one (for trends)."""
        return Window(self.start - (self.end - self.start), self.start)


def window_ending(latest: datetime, length: timedelta) -> Window:
    """A window of ``length`` ending after the hour of ``latest``: whole hours, so buckets
    are complete and caches are shared between sessions."""
    end = latest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return Window(end - length, end)


def grain_of(window: Window) -> tuple[str, timedelta]:
    """Hour buckets for up to two days, day buckets beyond."""
    if window.end - window.start <= timedelta(hours=48):
        return "hour", timedelta(hours=1)
    return "day", timedelta(days=1)


def partial_bucket(window: Window, step: timedelta, now: datetime) -> datetime | None:
    """The start of the window's last bucket when it is still filling (its period runs
    past the present or past the window's end), else ``None``. A trend point for 2 hours of
    a day reads like a day that collapsed; the chart marks it as "so far"."""
    edge = min(now, window.end)
    if edge <= window.start:
        return None
    last = edge - timedelta(microseconds=1)
    start = last.replace(minute=0, second=0, microsecond=0)
    if step >= timedelta(days=1):
        start = start.replace(hour=0)
    return start if start + step > edge else None


def window_caption(window: Window) -> str:
    """``18 Nov 2026 09:00 – 25 Nov 2026 09:00 UTC``."""
    return f"{window.start:%d %b %Y %H:%M} – {window.end:%d %b %Y %H:%M} UTC"
