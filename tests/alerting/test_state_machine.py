"""The alert state machine against hand-built metric values: pending period, keep-firing,
nodata and error that never resolve an open incident, escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.evaluation import evaluate
from alerting.state import AlertState, State
from core.errors import SourceUnavailable
from core.metric_values import ValueStatus
from tests.alerting.factories import T0, TableReader, make_rule, value

SCOPE = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
FP = "nack-rate|channel=FAC01_CHG_OUT,facility=FAC01"


def run(rule, series, minutes_apart: int = 5) -> list[tuple[State, str]]:
    """Feed one value per step; return (state, notify) after each."""
    states: dict[str, AlertState] = {}
    out = []
    for i, entry in enumerate(series):
        now = T0 + timedelta(minutes=minutes_apart * i)
        if entry == "raise":
            def boom():
                raise SourceUnavailable("HTTP 503 from billing")
            reader = TableReader({"nack_rate": boom})
        elif entry == "gone":
            reader = TableReader({"nack_rate": []})
        elif entry == "nodata":
            reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, None,
                                                       ValueStatus.NODATA)]})
        elif entry == "error":
            reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, None,
                                                       ValueStatus.ERROR, error="timeout")]})
        else:
            reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, entry)]})
        result = evaluate([rule], reader, states, now)
        states = result.states
        notes = [t.notify for t in result.transitions if t.notify]
        out.append((states[FP].state, ",".join(notes)))
    return out


def test_breach_without_pending_fires_at_once_and_resolves_when_clean() -> None:
    assert run(make_rule(), [0.0, 0.1, 0.1, 0.0]) == [
        (State.OK, ""), (State.FIRING, "firing"), (State.FIRING, ""),
        (State.RESOLVED, "resolved")]


def test_pending_period_holds_back_a_short_breach() -> None:
    rule = make_rule(pending="10m")
    # 5-minute steps: breach at 0, 5 (still pending), clean at 10 -> back to ok, never fired
    assert run(rule, [0.1, 0.1, 0.0]) == [
        (State.PENDING, ""), (State.PENDING, ""), (State.OK, "")]
    # held for 10 minutes -> fires on the third breaching evaluation
    assert run(rule, [0.1, 0.1, 0.1]) == [
        (State.PENDING, ""), (State.PENDING, ""), (State.FIRING, "firing")]


def test_keep_firing_rides_out_a_noisy_series() -> None:
    rule = make_rule(keep_firing="15m")
    states = run(rule, [0.1, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0])
    notifies = [n for _, n in states if n]
    assert notifies == ["firing", "resolved"]  # one incident, not three
    assert [s for s, _ in states] == [State.FIRING] * 6 + [State.RESOLVED]


@pytest.mark.parametrize("outage", ["nodata", "error", "raise", "gone"])
def test_nodata_or_error_never_resolves_an_open_incident(outage: str) -> None:
    states = run(make_rule(), [0.1, outage, outage, 0.1, 0.0])
    expected_outage = State.NODATA if outage in ("nodata", "gone") else State.ERROR
    assert states == [
        (State.FIRING, "firing"),
        (expected_outage, ""),
        (expected_outage, ""),
        (State.FIRING, ""),  # the same incident continues: no second "firing" e-mail
        (State.RESOLVED, "resolved"),
    ]


def test_error_keeps_the_reason_and_the_incident_start() -> None:
    rule = make_rule()
    reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, 0.2)]})
    first = evaluate([rule], reader, {}, T0)
    def boom():
        raise SourceUnavailable("HTTP 503 from billing")
    second = evaluate([rule], TableReader({"nack_rate": boom}), first.states,
                      T0 + timedelta(minutes=5))
    state = second.states[FP]
    assert state.state is State.ERROR
    assert state.firing_since == T0
    assert "HTTP 503 from billing" in state.error
    assert second.rule_errors["nack-rate"].startswith("reading nack_rate failed")


def test_missing_metric_is_an_error_not_a_resolve() -> None:
    rule = make_rule()
    first = evaluate([rule], TableReader({"nack_rate": [value("nack_rate", SCOPE, 0.2)]}), {}, T0)
    second = evaluate([rule], TableReader({}), first.states, T0 + timedelta(minutes=5))
    assert second.states[FP].state is State.ERROR
    assert "not provided by the metrics reader" in second.states[FP].error


def test_warn_then_fail_escalates_once() -> None:
    assert run(make_rule(), [0.03, 0.03, 0.07, 0.07]) == [
        (State.FIRING, "firing"), (State.FIRING, ""), (State.FIRING, "escalated"),
        (State.FIRING, "")]


def test_direction_below_and_amount_field() -> None:
    below = make_rule(metric="nack_rate", direction="below", warn=0.98, fail=0.95)
    assert run(below, [0.99, 0.97, 0.90])[1:] == [(State.FIRING, "firing"),
                                                  (State.FIRING, "escalated")]
    dollars = make_rule(parameters={"field": "amount"}, warn=None, fail=500)
    reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, 2, amount=900.0)]})
    assert evaluate([dollars], reader, {}, T0).states[FP].state is State.FIRING


def test_scope_match_and_min_denominator() -> None:
    rule = make_rule(scope={"by": ["facility", "channel"], "match": {"facility": "FAC02"}})
    reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, 0.5)]})
    assert evaluate([rule], reader, {}, T0).states == {}
    thin = make_rule(parameters={"min_denominator": 20})
    reader = TableReader({"nack_rate": [value("nack_rate", SCOPE, 0.5,
                                              detail={"denominator": 3})]})
    assert evaluate([thin], reader, {}, T0).states[FP].state is State.NODATA
