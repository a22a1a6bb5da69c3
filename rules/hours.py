"""Working hours of a rule (pure): when a facility works, and the rule it runs off hours.

An idle charge channel at 3 a.m. is normal; at 10 a.m. it is an outage. A rule's
``hours:`` block says when the facility works and what changes outside those hours::

    hours:
      working: "Mon-Fri 07:00-19:00, Sat 08:00-12:00"   # or a list of such strings
      tz: America/New_York                              # the facility's local time
      facilities:                                       # optional, per facility
        FAC02: {tz: America/Chicago}
        FAC03: {working: "Mon-Sun 00:00-24:00"}          # a 24/7 emergency department
      off_hours: {warn: 60, fail: 240, window: 4h}      # any of warn, fail, window

A span's days are ``Mon``..``Sun``, ranges (``Mon-Fri``, ``Fri-Mon``) or lists
(``Mon,Wed,Fri``); its times ``HH:MM``, ``24:00`` for the end of the day; an end before
the start crosses midnight (``Mon-Fri 19:00-07:00`` is each night from Monday evening to
Saturday morning). Local time is the facility's own, daylight saving included. A scope
without a facility goes by ``tz`` and ``working``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"(?P<days>[A-Za-z]+(?:\s*-\s*[A-Za-z]+)?(?:\s*,\s*[A-Za-z]+(?:\s*-\s*[A-Za-z]+)?)*)"
    r"\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})")
_BETWEEN = re.compile(r"^\s*[,;]\s*$")


@dataclass(frozen=True, slots=True)
class Span:
    """Working time on ``days`` (0 = Monday) from ``start`` to ``end`` minutes after
    local midnight; ``end <= start`` crosses midnight into the next day."""

    days: frozenset[int]
    start: int
    end: int

    def covers(self, weekday: int, minute: float) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        return ((weekday in self.days and minute >= self.start)
                or ((weekday - 1) % 7 in self.days and minute < self.end))


def _day(token: str, text: str) -> int:
    key = token.strip().lower()[:3]
    if key not in DAYS or len(token.strip()) < 3:
        raise ValueError(f"{text!r}: unknown day {token.strip()!r}; days are "
                         f"Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    return DAYS.index(key)


def _days(spec: str, text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        a = _day(first, text)
        b = _day(last, text) if last else a
        out.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    return frozenset(out)


def _minute(clock: str, text: str, *, end: bool) -> int:
    hours, minutes = (int(p) for p in clock.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError(f"{text!r}: {clock} is not a time of day")
    return hours * 60 + minutes


def parse_working(text: str) -> tuple[Span, ...]:
    """``"Mon-Fri 07:00-19:00, Sat 08:00-12:00"`` -> its spans; ``ValueError`` naming
    what is wrong otherwise."""
    spans: list[Span] = []
    at = 0
    for match in _SPAN.finditer(text):
        gap = text[at:match.start()]
        if gap.strip() if not spans else not _BETWEEN.match(gap):
            break  # something that is not a span before this one
        start = _minute(match["start"], text, end=False)
        end = _minute(match["end"], text, end=True)
        if start == end:
            raise ValueError(f"{text!r}: the span {match['start']}-{match['end']} is empty "
                             "— a whole day is 00:00-24:00")
        spans.append(Span(_days(match["days"], text), start, end))
        at = match.end()
    if not spans or text[at:].strip(" ,;\t\n"):
        raise ValueError(f"{text!r} is not working hours (days, then HH:MM-HH:MM)")
    return tuple(spans)


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except Exception:
        raise ValueError(f"unknown time zone {name!r} (an IANA name)") from None
    return name


def working_at(spans: tuple[Span, ...], tz: str, now: datetime) -> bool:
    """True when ``now`` falls in one of ``spans``, read in ``tz``'s local time."""
    local = now.astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute + local.second / 60
    return any(span.covers(local.weekday(), minute) for span in spans)
