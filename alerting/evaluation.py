"""One evaluation pass: every rule x every scope the reader returns, through the state
machine. Pure apart from the reader it is given (tests pass hand-built values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerting.state import AlertState, Transition, new_state, step
from chargeline.metric_values import MetricReader, MetricValue
from rules.evaluate import Judgement, Outcome, fingerprint, judge, scope_matches
from rules.model import Rule

MISSING_SCOPE = "no value for this scope in the window (the metric returned nothing for it)"


@dataclass
class EvaluationResult:
    """The new state of every instance, what changed, and rules that could not be read."""

    states: dict[str, AlertState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    rule_errors: dict[str, str] = field(default_factory=dict)


def _read(reader: MetricReader, rule: Rule, names: frozenset[str],
          now: datetime) -> tuple[list[MetricValue] | None, str]:
    if rule.metric not in names:
        return None, f"metric {rule.metric!r} is not provided by the metrics reader"
    try:
        return reader.values(rule.metric, window=rule.window, scope_keys=rule.scope.by,
                             now=now), ""
    except Exception as exc:  # any reader failure becomes the error state, never "resolved"
        return None, f"reading {rule.metric} failed: {type(exc).__name__}: {exc}"


def evaluate(rules: tuple[Rule, ...] | list[Rule], reader: MetricReader,
             previous: Mapping[str, AlertState], now: datetime) -> EvaluationResult:
    """Evaluate ``rules`` at ``now`` against ``previous`` states; return the new ones."""
    result = EvaluationResult()
    by_rule: dict[str, list[AlertState]] = {}
    for state in previous.values():
        by_rule.setdefault(state.rule_id, []).append(state)
    known_ids = {r.id for r in rules}
    # Instances of rules that were removed keep their last state (history stays readable).
    for fp, state in previous.items():
        if state.rule_id not in known_ids:
            result.states[fp] = state
    names = reader.metric_names()
    for rule in rules:
        values, error = _read(reader, rule, names, now)
        old = {s.fingerprint: s for s in by_rule.get(rule.id, ())}
        if values is None:
            result.rule_errors[rule.id] = error
            failed = Judgement(Outcome.ERROR, error=error)
            for prev in old.values():
                _apply(result, prev, rule, failed, now)
            continue
        for value in values:
            if not scope_matches(rule, value.scope):
                continue
            fp = fingerprint(rule.id, value.scope)
            prev = old.pop(fp, None) or new_state(fp, rule.id, dict(value.scope), now)
            _apply(result, prev, rule, judge(rule, value), now)
        missing = Judgement(Outcome.NODATA, error=MISSING_SCOPE)
        for prev in old.values():
            _apply(result, prev, rule, missing, now)
    return result


def _apply(result: EvaluationResult, prev: AlertState, rule: Rule, judgement: Judgement,
           now: datetime) -> None:
    new, transition = step(prev, rule, judgement, now)
    result.states[new.fingerprint] = new
    if transition is not None:
        result.transitions.append(transition)
