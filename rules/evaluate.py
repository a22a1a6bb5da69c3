"""Judging metric values against a rule: pure, no I/O, one ``Judgement`` per scope."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.metric_values import MetricValue, ValueStatus
from rules.model import Direction, Field_, Rule


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    NODATA = "nodata"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one metric value means under one rule: outcome, the number compared and why."""

    outcome: Outcome
    value: float | None = None
    amount: float | None = None
    threshold: float | None = None
    error: str = ""
    detail: tuple[tuple[str, float], ...] = ()

    @property
    def breaching(self) -> bool:
        return self.outcome in (Outcome.WARN, Outcome.FAIL)


def _crosses(number: float, threshold: float, direction: Direction) -> bool:
    return number >= threshold if direction is Direction.ABOVE else number <= threshold


def judge(rule: Rule, value: MetricValue) -> Judgement:
    """Compare one metric value with the rule's ``fail`` then ``warn`` threshold."""
    detail = tuple(sorted(value.detail.items()))
    if value.status is ValueStatus.ERROR:
        return Judgement(Outcome.ERROR, error=value.error or "the source could not be read",
                         detail=detail)
    number = value.amount if rule.parameters.field is Field_.AMOUNT else value.value
    denominator = value.detail.get("denominator")
    too_small = (rule.parameters.min_denominator > 0 and denominator is not None
                 and denominator < rule.parameters.min_denominator)
    if value.status is ValueStatus.NODATA or number is None or too_small:
        return Judgement(Outcome.NODATA, value.value, value.amount, detail=detail)
    if _crosses(number, rule.fail, rule.direction):
        return Judgement(Outcome.FAIL, value.value, value.amount, rule.fail, detail=detail)
    if rule.warn is not None and _crosses(number, rule.warn, rule.direction):
        return Judgement(Outcome.WARN, value.value, value.amount, rule.warn, detail=detail)
    return Judgement(Outcome.OK, value.value, value.amount, rule.warn if rule.warn is not None
                     else rule.fail, detail=detail)


def scope_matches(rule: Rule, scope: dict[str, str]) -> bool:
    """True when the scope passes the rule's ``scope.match`` filter."""
    return all(scope.get(k) == v for k, v in rule.scope.match.items())


def fingerprint(rule_id: str, scope: dict[str, str]) -> str:
    """The stable identity of one alert instance: rule id plus its sorted scope."""
    return rule_id + "|" + ",".join(f"{k}={scope[k]}" for k in sorted(scope))
