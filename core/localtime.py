"""A facility's local calendar date of a source timestamp (pure).

Real estates write times with the facility's UTC offset (FHIR ``2024-01-08T19:04:15-05:00``,
HL7 ``20240108190415-0500``). Instants are compared as instants; where a calendar date is
a key (a charge's service date against the day of its scan) it is the facility's local
date on both sides:

- with a time zone configured for the facility, the instant in that zone (DST from
  ``zoneinfo``), whatever offset the source wrote;
- else the date as the source wrote it (its own offset: the local date of a system that
  writes local times), UTC for ``Z``/``+0000`` or no offset.

So an estate whose systems all write local offsets needs no configuration, and one where
some system writes UTC (an EHR in ``Z``, billing in local time) configures the zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigError

_HL7_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?)?"
                     r"([+-]\d{4})?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Zones = Mapping[str, tzinfo]  # facility id (or "*" for every other) -> zone


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a ``ConfigError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}; use an IANA name such as "
                          "America/New_York or Europe/Berlin") from None


def parse_zones(raw: object, where: str) -> dict[str, tzinfo]:
    """``{facility: IANA name}`` (``"*"`` for the rest) from a config file section."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: facility_time_zones must map facility ids to IANA "
                          "time zones, e.g. {FAC01: America/New_York}")
    out: dict[str, tzinfo] = {}
    for facility, name in raw.items():
        try:
            out[str(facility)] = zone(str(name))
        except ConfigError as exc:
            raise ConfigError(f"{where}: facility_time_zones.{facility}: {exc}") from None
    return out


def zone_for(zones: Zones | None, facility_id: object) -> tzinfo | None:
    """The configured zone of a facility (or the ``"*"`` default), None when none."""
    if not zones:
        return None
    return zones.get(str(facility_id or "")) or zones.get("*")


def as_written(value: object) -> datetime | date | None:
    """An ISO 8601 or HL7 DTM value as the source wrote it: an aware datetime in the
    written offset (UTC when none), a date for a date-only value, None when unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _ISO_DATE.match(text):
        return date.fromisoformat(text)
    if "-" in text[:8] or "T" in text:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    match = _HL7_TS.match(text)
    if not match:
        return None
    y, mo, d, h, mi, s, frac, offset = match.groups()
    if h is None:
        return date(int(y), int(mo), int(d))
    tz: tzinfo = UTC
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi or 0), int(s or 0),
                        int((frac or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError:
        return None


def local_date(value: object, facility_zone: tzinfo | None = None) -> date | None:
    """The facility's calendar date of ``value`` (see the module docstring); a date-only
    value is already one. None when the value is not a time."""
    written = as_written(value)
    if written is None:
        return None
    if not isinstance(written, datetime):
        return written
    if facility_zone is not None:
        return written.astimezone(facility_zone).date()
    return written.date()
