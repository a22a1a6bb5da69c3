"""One evaluation pass: every rule x every scope the reader returns, through the state
machine.

Reading and judging are split so the service can read metrics without holding the store's
alerting lock and then judge against the freshest stored state: ``read_all`` does every
distinct metric read once (rules sharing a metric, window and scope share the read);
``evaluate_readings`` is pure. ``evaluate`` does both (tests pass hand-built readers).

A rule with working hours (``hours:``, rules/hours.py) is judged per scope by the rule in
force for that scope's facility at ``now``: itself in working hours, its off-hours
variant (other thresholds, maybe another window) outside them. Facilities in different
time zones can be in both at once, so both windows are read when both are in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alerting.state import AlertState, Transition, new_state, step
from core.metric_values import MetricReader, MetricValue
from rules.evaluate import Judgement, Outcome, fingerprint, judge, scope_matches
from rules.model import Rule

MISSING_SCOPE = "no value for this scope in the window (the metric returned nothing for it)"

ReadKey = tuple[str, timedelta, tuple[str, ...], tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Reading:
    """The values of one metric read, or why the read failed (``values`` is ``None``)."""

    values: tuple[MetricValue, ...] | None
    error: str = ""


@dataclass
class EvaluationResult:
    """The new state of every instance, what changed, and rules that could not be read."""

    states: dict[str, AlertState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    rule_errors: dict[str, str] = field(default_factory=dict)


def read_key(rule: Rule) -> ReadKey:
    """What a rule reads: metric, window, scope keys and metric parameters."""
    return (rule.metric, rule.window, rule.scope.by, tuple(sorted(rule.parameters.args.items())))


def _read(reader: MetricReader, key: ReadKey, names: frozenset[str], now: datetime) -> Reading:
    metric, window, scope_keys, params = key
    if metric not in names:
        return Reading(None, f"metric {metric!r} is not provided by the metrics reader")
    try:
        values = reader.values(metric, window=window, scope_keys=scope_keys, now=now,
                               params=dict(params) if params else None)
    except Exception as exc:  # any reader failure becomes the error state, never "resolved"
        return Reading(None, f"reading {metric} failed: {type(exc).__name__}: {exc}")
    return Reading(tuple(values))


def read_all(rules: Iterable[Rule], reader: MetricReader, now: datetime) -> dict[ReadKey, Reading]:
    """Every distinct metric read the rules need, done once each."""
    try:
        names = reader.metric_names()
    except Exception as exc:
        failed = Reading(None, f"the metrics reader failed: {type(exc).__name__}: {exc}")
        return {read_key(rule): failed for rule in rules}
    out: dict[ReadKey, Reading] = {}
    for rule in rules:
        for variant in _variants(rule, now):
            key = read_key(variant)
            if key not in out:
                out[key] = _read(reader, key, names, now)
    return out


def _variants(rule: Rule, now: datetime) -> list[Rule]:
    """The rule itself, or with working hours the variants some facility is in at ``now``
    (working first)."""
    if rule.hours is None:
        return [rule]
    modes = rule.hours.modes_at(now)
    return [v for mode, v in ((True, rule), (False, rule.off_hours_rule())) if mode in modes]


def _evaluate_hours(result: EvaluationResult, rule: Rule, readings: Mapping[ReadKey, Reading],
                    old: dict[str, AlertState], now: datetime) -> None:
    """A rule with working hours: each scope judged by the variant in force for its
    facility at ``now``; a failed read errors the instances of that variant alone."""
    hours = rule.hours
    assert hours is not None
    for variant in _variants(rule, now):
        working = variant is rule
        reading = readings.get(read_key(variant), Reading(None, "the metric was not read"))
        if reading.values is None:
            result.rule_errors[rule.id] = reading.error
            failed = Judgement(Outcome.ERROR, error=reading.error)
            for fp, prev in list(old.items()):
                if hours.working_at(prev.scope.get("facility"), now) is working:
                    _apply(result, old.pop(fp), variant, failed, now)
            continue
        for value in reading.values:
            if not scope_matches(rule, value.scope) or hours.working_at(
                    value.scope.get("facility"), now) is not working:
                continue
            fp = fingerprint(rule.id, value.scope)
            prev = old.pop(fp, None) or new_state(fp, rule.id, dict(value.scope), now)
            judgement = judge(variant, value)
            if not working:  # say so: the dashboard and digests show the threshold used
                judgement = replace(judgement, detail=(*judgement.detail, ("off_hours", 1.0)))
            _apply(result, prev, variant, judgement, now)
    missing = Judgement(Outcome.NODATA, error=MISSING_SCOPE)
    for prev in old.values():
        _apply(result, prev, rule.at(prev.scope.get("facility"), now), missing, now)


def evaluate_readings(rules: Iterable[Rule], readings: Mapping[ReadKey, Reading],
                      previous: Mapping[str, AlertState], now: datetime) -> EvaluationResult:
    """Judge every rule's readings at ``now`` against ``previous`` states (pure)."""
    rules = list(rules)
    result = EvaluationResult()
    by_rule: dict[str, dict[str, AlertState]] = {}
    for fp, state in previous.items():
        by_rule.setdefault(state.rule_id, {})[fp] = state
    known_ids = {r.id for r in rules}
    # Instances of rules that were removed keep their last state (history stays readable).
    for fp, state in previous.items():
        if state.rule_id not in known_ids:
            result.states[fp] = state
    for rule in rules:
        if rule.hours is not None:
            _evaluate_hours(result, rule, readings, dict(by_rule.get(rule.id, {})), now)
            continue
        reading = readings.get(read_key(rule), Reading(None, "the metric was not read"))
        old = dict(by_rule.get(rule.id, {}))
        if reading.values is None:
            result.rule_errors[rule.id] = reading.error
            failed = Judgement(Outcome.ERROR, error=reading.error)
            for prev in old.values():
                _apply(result, prev, rule, failed, now)
            continue
        for value in reading.values:
            if not scope_matches(rule, value.scope):
                continue
            fp = fingerprint(rule.id, value.scope)
            prev = old.pop(fp, None) or new_state(fp, rule.id, dict(value.scope), now)
            _apply(result, prev, rule, judge(rule, value), now)
        missing = Judgement(Outcome.NODATA, error=MISSING_SCOPE)
        for prev in old.values():
            _apply(result, prev, rule, missing, now)
    return result


def evaluate(rules: Iterable[Rule], reader: MetricReader,
             previous: Mapping[str, AlertState], now: datetime) -> EvaluationResult:
    """Evaluate ``rules`` at ``now`` against ``previous`` states; return the new ones."""
    rules = list(rules)
    return evaluate_readings(rules, read_all(rules, reader, now), previous, now)


def _apply(result: EvaluationResult, prev: AlertState, rule: Rule, judgement: Judgement,
           now: datetime) -> None:
    new, transition = step(prev, rule, judgement, now)
    result.states[new.fingerprint] = new
    if transition is not None:
        result.transitions.append(transition)
