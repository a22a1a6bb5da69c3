"""Times as integer epoch milliseconds, and their ISO 8601 / HL7 renderings."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, tzinfo

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def iso(ms: int) -> str:
    """``2026-11-18T10:15:32.123Z`` for epoch milliseconds."""
    secs, rest = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rest:03d}Z"


def iso_date(ms: int) -> str:
    """``2026-11-18`` (UTC) for epoch milliseconds."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def hl7_ts(ms: int) -> str:
    """HL7 DTM with milliseconds and explicit UTC offset: ``20261118101532.123+0000``."""
    secs, rest = divmod(ms, 1000)
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(secs)) + f".{rest:03d}+0000"


def day_stamp(ms: int) -> str:
    """``20261118``: the UTC day of a time, as used in HL7 log file names."""
    return time.strftime("%Y%m%d", time.gmtime(ms // 1000))


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_iso_us(text: str) -> int:
    """Epoch microseconds of an ISO 8601 time (date, minutes, seconds or fractions; Z or
    offset). Fractions finer than a microsecond are truncated; no zone means UTC.
    Raises ``ValueError`` naming the expected shape."""
    match = _ISO.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 time: {text!r}; send e.g. 2026-11-18T10:00:00.000Z")
    y, mo, d, h, mi, s, frac, zone = match.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                      tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid time: {text!r} ({exc})") from None
    us = int(dt.timestamp()) * 1_000_000 + int((frac or "0").ljust(6, "0")[:6])
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        us -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000_000
    return us


def parse_iso_ms(text: str) -> int:
    """Epoch ms of an ISO 8601 time (finer fractions truncated); see ``parse_iso_us``."""
    return parse_iso_us(text) // 1000


def _offset(dt: datetime, sep: str) -> str:
    """``-05:00`` / ``+0530`` of an aware datetime (``sep`` between hours and minutes)."""
    offset = dt.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{sep}{mins:02d}"


def iso_in(ms: int, zone: tzinfo) -> str:
    """``2026-11-18T05:15:32.123-05:00``: epoch ms as local time in ``zone`` with the
    offset that zone had at that instant (DST included)."""
    secs, rest = divmod(ms, 1000)
    local = datetime.fromtimestamp(secs, zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:03d}" + _offset(local, ":")


def hl7_ts_in(ms: int, zone: tzinfo) -> str:
    """``20261118051532.123-0500``: the HL7 DTM of ``hl7_ts`` as local time in ``zone``
    (as long as the UTC form, so a log's byte offsets do not move)."""
    secs, rest = divmod(ms, 1000)
    local = datetime.fromtimestamp(secs, zone)
    return local.strftime("%Y%m%d%H%M%S") + f".{rest:03d}" + _offset(local, "")
