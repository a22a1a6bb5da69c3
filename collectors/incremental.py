"""Watermark arithmetic shared by the incremental HTTP collectors (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant (``...Z`` or with an offset) as aware UTC; ``ValueError``
    when it is not one, or is too long to be one (a watermark is 400 characters wide)."""
    if len(value) > 64:
        raise ValueError("an instant of more than 64 characters")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise ValueError("an instant outside the years 1-9999 in UTC") from None


def format_instant(value: datetime) -> str:
    """The wire format of the demo estate: UTC, millisecond precision, ``Z``."""
    # isoformat, not strftime: %Y writes year 1 as "1" on glibc
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def since(watermark: str | None, overlap_seconds: int) -> str | None:
    """Where the next poll starts: the watermark minus the overlap window (None: from the
    beginning). The overlap re-reads recent records so late, out-of-order ones are caught;
    the upserts make re-reading harmless."""
    if not watermark:
        return None
    at = parse_instant(watermark)
    # a watermark in year 1 (a hostile record's date) starts from the beginning of time
    earliest = datetime.min.replace(tzinfo=UTC) + timedelta(seconds=overlap_seconds)
    return format_instant(max(at, earliest) - timedelta(seconds=overlap_seconds))


def advance(watermark: str | None, newest: str) -> str | None:
    """The later of the stored watermark and the newest instant on a page."""
    if not newest:
        return watermark
    if not watermark:
        return newest
    return newest if parse_instant(newest) > parse_instant(watermark) else watermark


def latest(current: str, candidate: object) -> str:
    """The later of two wire instants, compared as times (not as text: ``...00Z`` and
    ``...00.000+00:00`` are the same instant); an unparseable candidate is ignored."""
    if not isinstance(candidate, str) or not candidate:
        return current
    try:
        parsed = parse_instant(candidate)
    except ValueError:
        return current
    if not current or parsed > parse_instant(current):
        return candidate
    return current


class Latest:
    """The latest of many wire instants: ``latest`` applied in turn, each instant parsed
    once (a page offers one per record)."""

    __slots__ = ("_at", "value")

    def __init__(self) -> None:
        self.value = ""
        self._at: datetime | None = None

    def offer(self, candidate: object) -> None:
        """Keep ``candidate`` when it is a later instant; ignore what does not parse."""
        if not isinstance(candidate, str) or not candidate:
            return
        try:
            parsed = parse_instant(candidate)
        except ValueError:
            return
        if self._at is None or parsed > self._at:
            self.value, self._at = candidate, parsed
