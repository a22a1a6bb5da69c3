"""Drill-down state, pure: the filters behind a number, to and from URL query parameters,
and the mapping from a Plotly chart selection to those filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.shaping.datasets import RECORD_SETS

PARAM_TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what st.datetime_input writes into the URL


@dataclass(frozen=True)
class DrillFilters:
    """What the drill-down shows: a dataset and the filters on it (times are UTC)."""

    dataset: str = "capture"
    facilities: tuple[str, ...] = ()
    channel: str = ""
    status: str = ""
    since: datetime | None = None
    until: datetime | None = None
    search: str = ""
    problems: bool = False  # only the rows that are a problem (late, missing, mismatch)

    def __post_init__(self) -> None:
        if self.dataset not in RECORD_SETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; use one of {sorted(RECORD_SETS)}")


def format_time(value: datetime) -> str:
    """A UTC time as the URL carries it."""
    return value.astimezone(UTC).strftime(PARAM_TIME_FORMAT)


def parse_time(text: str) -> datetime | None:
    """A URL time (``2026-11-18T10:00``, UTC) or ``None`` when it does not parse."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_query_params(f: DrillFilters) -> dict[str, str | list[str]]:
    """The URL parameters that reopen this view (defaults left out)."""
    params: dict[str, str | list[str]] = {"dataset": f.dataset}
    if f.facilities:
        params["facility"] = list(f.facilities)
    for name in ("channel", "status", "search"):
        if getattr(f, name):
            params[name] = getattr(f, name)
    if f.since:
        params["since"] = format_time(f.since)
    if f.until:
        params["until"] = format_time(f.until)
    if f.problems:
        params["problems"] = "true"
    return params


def from_query_params(params: Mapping[str, str | Sequence[str]]) -> DrillFilters:
    """Filters from URL parameters; unknown or malformed values fall back to defaults."""

    def one(name: str) -> str:
        value = params.get(name, "")
        return value if isinstance(value, str) else (value[-1] if value else "")

    raw_fac = params.get("facility", ())
    facilities = (raw_fac,) if isinstance(raw_fac, str) else tuple(raw_fac)
    dataset = one("dataset") if one("dataset") in RECORD_SETS else "capture"
    return DrillFilters(
        dataset=dataset,
        facilities=tuple(f for f in facilities if f),
        channel=one("channel"),
        status=one("status"),
        since=parse_time(one("since")) if one("since") else None,
        until=parse_time(one("until")) if one("until") else None,
        search=one("search"),
        problems=one("problems").lower() == "true",
    )


def selection_to_filters(
    points: Sequence[Mapping[str, Any]], *, base: DrillFilters,
    bucket: timedelta = timedelta(hours=1),
) -> DrillFilters | None:
    """Filters for the records behind selected chart points, or ``None`` for no points.

    Each point is a Plotly selection point whose ``x`` is the start of a time bucket and
    whose ``customdata[0]`` is the facility (the trend charts are built that way). The
    result is ``base`` narrowed to every selected facility, from the earliest bucket to the
    end of the last.
    """
    facilities: set[str] = set()
    starts: list[datetime] = []
    for point in points:
        custom = point.get("customdata") or ()
        if custom:
            facilities.add(str(custom[0]))
        x = point.get("x")
        start = parse_time(str(x)) if x is not None else None
        if start is not None:
            starts.append(start)
    if not facilities and not starts:
        return None
    return replace(
        base,
        facilities=tuple(sorted(facilities)) or base.facilities,
        since=min(starts) if starts else base.since,
        until=max(starts) + bucket if starts else base.until,
    )
