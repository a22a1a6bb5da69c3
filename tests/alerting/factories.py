"""Hand-built rules and metric values for alerting tests (input data, not mocks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.metric_values import MetricValue, ValueStatus
from rules.model import Rule

T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def make_rule(**overrides: Any) -> Rule:
    """A valid rule; override any key."""
    data: dict[str, Any] = {
        "id": "nack-rate",
        "name": "NACK rate per channel",
        "metric": "nack_rate",
        "scope": {"by": ["facility", "channel"]},
        "window": "1h",
        "warn": 0.02,
        "fail": 0.05,
        "owner": "integration",
        "stewards": ["interfaces@example.org"],
        "severity": "critical",
        "description": "Share of messages the receiver rejected.",
    }
    data.update(overrides)
    return Rule.model_validate(data)


def value(metric: str, scope: dict[str, str], number: float | None,
          status: ValueStatus = ValueStatus.OK, **kw: Any) -> MetricValue:
    return MetricValue(metric=metric, scope=scope, value=number, status=status, **kw)


class TableReader:
    """A MetricReader over a dict metric -> values, or a callable for failures."""

    def __init__(self, table: dict[str, list[MetricValue] | Callable[[], list[MetricValue]]]):
        self.table = table

    def metric_names(self) -> frozenset[str]:
        return frozenset(self.table)

    def values(self, metric: str, *, window: timedelta, scope_keys: tuple[str, ...],
               now: datetime, params: Mapping[str, str] | None = None) -> list[MetricValue]:
        entry = self.table[metric]
        return entry() if callable(entry) else list(entry)
