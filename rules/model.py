"""The rule model: one frozen pydantic object per rule block of a YAML rule file.

A rule compares one metric, per scope, against a ``warn`` and a ``fail`` threshold in one
direction (``above``: bigger is worse; ``below``: smaller is worse). Durations are written
``30s``, ``15m``, ``2h``, ``1d`` (or combined, ``1h30m``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rules.hours import check_zone, parse_working
from rules.hours import working_at as in_working_hours

# payer: the denial metrics split by the payer that answered the claim (835 N1*PR)
SCOPE_KEYS = ("facility", "location", "item_class", "channel", "source", "endpoint", "procedure",
              "payer")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def parse_duration(value: Any) -> timedelta:
    """``"15m"`` -> 15 minutes; a ``timedelta`` passes through; anything else is refused."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write it like 15m, 2h or 1d")
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"{value!r} is not a duration; write it like 15m, 2h or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of ``parse_duration`` (``timedelta(minutes=90)`` -> ``"1h30m"``)."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


def _unknown_scope_key(key: str) -> str:
    return f"unknown scope key {key!r}; use one of {', '.join(SCOPE_KEYS)}"


class Direction(StrEnum):
    ABOVE = "above"  # the value is bad when it rises to or over the threshold
    BELOW = "below"  # the value is bad when it falls to or under the threshold


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Field_(StrEnum):
    VALUE = "value"  # MetricValue.value (a count, rate, minutes...)
    AMOUNT = "amount"  # MetricValue.amount (the $ behind it)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Which scopes to evaluate per (``by``) and which to keep (``match``, equality).

    A channel is named per engine, so two facilities' ``DFT_OUT`` are two channels: a
    scope that names ``channel`` (in ``by`` or ``match``) is evaluated per facility and
    channel, each its own alert instance; ``match: {facility: FAC1, channel: DFT_OUT}``
    keeps one of them."""

    by: tuple[str, ...] = ()
    match: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _channel_identity(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        by, match = data.get("by", ()), data.get("match") or {}
        if not isinstance(by, list | tuple) or not isinstance(match, dict):
            return data  # the field validators say what is wrong
        if "channel" not in by and "channel" not in match:
            return data
        keys = list(by)
        if "channel" not in keys:
            keys.append("channel")
        if "facility" not in keys:
            keys.insert(keys.index("channel"), "facility")
        return {**data, "by": keys}

    @field_validator("by")
    @classmethod
    def _known_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in value if k not in SCOPE_KEYS]
        if unknown:
            raise ValueError(_unknown_scope_key(unknown[0]))
        if len(set(value)) != len(value):
            raise ValueError("a scope key is repeated")
        return value

    @field_validator("match")
    @classmethod
    def _known_match_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in SCOPE_KEYS]
        if unknown:
            raise ValueError(_unknown_scope_key(unknown[0]))
        return value


class Parameters(_Strict):
    """How the metric value is read (``field``, ``min_denominator``); any other key is a
    parameter of the metric itself (``reason: no_crosswalk``), checked against the catalog."""

    field: Field_ = Field_.VALUE
    min_denominator: float = Field(default=0, ge=0)
    args: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _metric_args(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        own = {"field", "min_denominator", "args"}
        args = {k: v for k, v in data.items() if k not in own}
        if not args:
            return data
        bad = [k for k, v in args.items() if not isinstance(v, str | int | float)]
        if bad:
            raise ValueError(f"parameter {bad[0]!r} must be a single value")
        kept = {k: v for k, v in data.items() if k in own}
        return {**kept, "args": {**kept.get("args", {}), **{k: str(v) for k, v in args.items()}}}


def _working(value: Any) -> Any:
    """A working-hours string or list of strings, checked and kept as a tuple."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(
            isinstance(i, str) for i in items):
        raise ValueError("working must be a string like 'Mon-Fri 07:00-19:00' or a list "
                         "of them")
    for item in items:
        parse_working(item)
    return tuple(items)


def _zone(value: Any) -> Any:
    return check_zone(value) if isinstance(value, str) else value


Working = Annotated[tuple[str, ...], BeforeValidator(_working)]
Zone = Annotated[str, BeforeValidator(_zone)]


class OffHours(_Strict):
    """What changes outside working hours: any of ``warn``, ``fail``, ``window``
    (``warn: null`` drops the warning level off hours)."""

    warn: float | None = None
    fail: float | None = None
    window: Duration | None = None

    @model_validator(mode="after")
    def _something(self) -> OffHours:
        if not self.model_fields_set:
            raise ValueError("off_hours changes nothing; give warn, fail or window")
        return self


class FacilityHours(_Strict):
    """One facility's own working hours or time zone (the rest from ``hours``)."""

    working: Working | None = None
    tz: Zone | None = None


class WorkingHours(_Strict):
    """When the facilities work (their local time) and the rule's off-hours changes;
    rules/hours.py has the syntax."""

    working: Working
    tz: Zone = "UTC"
    facilities: dict[str, FacilityHours] = Field(default_factory=dict)
    off_hours: OffHours

    @cached_property
    def _spans(self) -> dict[str, tuple]:
        def spans(working: tuple[str, ...]) -> tuple:
            return tuple(s for text in working for s in parse_working(text))

        out = {"": spans(self.working)}
        out.update({f: spans(h.working) for f, h in self.facilities.items() if h.working})
        return out

    def working_at(self, facility: str | None, now: datetime) -> bool:
        """True when ``facility`` (None: a scope without one) is in working hours."""
        own = self.facilities.get(facility or "")
        spans = self._spans.get(facility or "") if own and own.working else self._spans[""]
        tz = own.tz if own and own.tz else self.tz
        return in_working_hours(spans, tz, now)

    def modes_at(self, now: datetime) -> frozenset[bool]:
        """The modes (True: working) some facility can be in at ``now``."""
        return frozenset({self.working_at(None, now),
                          *(self.working_at(f, now) for f in self.facilities)})


class Rule(_Strict):
    """One governance rule (one block of a rule file)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=80)
    name: str = Field(min_length=1, max_length=200)
    metric: str = Field(min_length=1)
    parameters: Parameters = Parameters()
    scope: Scope = Scope()
    window: Duration
    direction: Direction = Direction.ABOVE
    warn: float | None = None
    fail: float
    pending: Duration = timedelta(0)
    keep_firing: Duration = timedelta(0)
    owner: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    stewards: tuple[str, ...] = Field(min_length=1)
    severity: Severity = Severity.WARNING
    tags: tuple[str, ...] = ()
    description: str = Field(min_length=1)
    runbook: str = ""
    unit: str = ""
    hours: WorkingHours | None = None

    def off_hours_rule(self) -> Rule:
        """This rule as it runs off hours (the same rule without ``hours:``)."""
        return self._off_hours if self.hours is not None else self

    @cached_property
    def _off_hours(self) -> Rule:  # built once per rule (a pass asks for it per scope)
        assert self.hours is not None
        off = self.hours.off_hours
        update: dict[str, Any] = {"hours": None}
        for key in off.model_fields_set:
            update[key] = getattr(off, key)
        if off.window is None:
            update.pop("window", None)
        if off.fail is None:
            update.pop("fail", None)
        return self.model_copy(update=update)

    def at(self, facility: str | None, now: datetime) -> Rule:
        """The rule in force for a scope of ``facility`` at ``now`` (itself in working
        hours or without ``hours:``, ``off_hours_rule()`` outside them)."""
        if self.hours is None or self.hours.working_at(facility, now):
            return self
        return self.off_hours_rule()

    @field_validator("stewards")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @field_validator("runbook")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) link")
        return value

    @field_validator("fail")
    @classmethod
    def _threshold_order(cls, fail: float, info: ValidationInfo) -> float:
        warn, direction = info.data.get("warn"), info.data.get("direction")
        if warn is None or direction is None or warn == fail:
            return fail
        worse = fail > warn if direction is Direction.ABOVE else fail < warn
        if not worse:
            word = "above" if direction is Direction.ABOVE else "below"
            raise ValueError(
                f"fail {fail:g} must be {word} warn {warn:g} when direction is {direction.value}"
            )
        return fail


    @field_validator("hours")
    @classmethod
    def _off_hours_order(cls, hours: WorkingHours | None,
                         info: ValidationInfo) -> WorkingHours | None:
        direction = info.data.get("direction")
        if hours is None or direction is None or "fail" not in info.data:
            return hours
        off = hours.off_hours
        warn = off.warn if "warn" in off.model_fields_set else info.data.get("warn")
        fail = off.fail if off.fail is not None else info.data["fail"]
        if warn is None or warn == fail:
            return hours
        worse = fail > warn if direction is Direction.ABOVE else fail < warn
        if not worse:
            word = "above" if direction is Direction.ABOVE else "below"
            raise ValueError(f"off_hours: fail {fail:g} must be {word} warn {warn:g} when "
                             f"direction is {direction.value}")
        return hours


class RuleFile(_Strict):
    """The top level of one rule file."""

    rules: tuple[Rule, ...] = Field(min_length=1)
