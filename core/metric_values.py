"""The seam between metrics and rules: a metric value for one scope, and the reader
protocol the rule evaluator pulls values through.

``metrics`` implements ``MetricReader`` on the store; ``rules`` evaluates whatever a reader
returns, so rule evaluation stays pure and testable with values built by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class ValueStatus(StrEnum):
    OK = "ok"  # a measured value
    NODATA = "nodata"  # nothing to measure in the window (no traffic, no records)
    ERROR = "error"  # the data behind it could not be collected (source failing)


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric for one scope over one window.

    ``scope`` names where it applies, e.g. ``{"facility": "FAC01"}`` or
    ``{"facility": "FAC01", "channel": "FAC01_CHG_OUT"}``; ``{}`` is the whole network.
    ``amount`` carries the dollar figure behind a count when there is one (revenue at risk,
    overcharge). ``detail`` holds small extra numbers for messages (numerator, denominator).
    """

    metric: str
    scope: dict[str, str]
    value: float | None
    status: ValueStatus = ValueStatus.OK
    observed_at: datetime | None = None
    amount: float | None = None
    detail: dict[str, float] = field(default_factory=dict)
    error: str = ""


class MetricReader(Protocol):
    def metric_names(self) -> frozenset[str]:
        """Every metric this reader can answer for (the rule loader checks against it)."""
        ...

    def values(
        self, metric: str, *, window: timedelta, scope_keys: tuple[str, ...], now: datetime,
        params: Mapping[str, str] | None = None,
    ) -> list[MetricValue]:
        """The metric over ``[now - window, now)`` for every scope of the given keys
        (``("facility",)``, ``("facility", "channel")``, ``()`` for the network), with the
        rule's parameters (e.g. ``{"reason": "no_crosswalk"}``) when it has any."""
        ...
