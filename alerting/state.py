"""The alert state machine: pure, one step per rule, scope and evaluation.

    ok ──breach──> pending ──held for `pending`──> firing ──clean for `keep_firing`──> resolved
     ^                │ clean                        │ │
     └────────────────┘               nodata / error │ └─ breach again: stays firing
                                                     v
                             nodata / error (the incident stays open: ``firing_since`` is
                             kept, so a collector outage never resolves a real problem)

Only clean measurements resolve. Each state change is a ``Transition``; those that mean
"tell the stewards" carry ``notify`` (firing, escalated, resolved).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from rules.evaluate import Judgement, Outcome
from rules.model import Rule


class State(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NODATA = "nodata"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert instance (rule x scope) as of its last evaluation."""

    fingerprint: str
    rule_id: str
    scope: dict[str, str]
    state: State
    state_since: datetime
    evaluated_at: datetime
    level: str = ""  # "warn" or "fail" while breaching
    value: float | None = None
    amount: float | None = None
    threshold: float | None = None
    pending_since: datetime | None = None
    firing_since: datetime | None = None  # start of the open incident, kept through nodata/error
    clear_since: datetime | None = None  # first clean value while firing (keep-firing clock)
    error: str = ""
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def incident_open(self) -> bool:
        return self.firing_since is not None


@dataclass(frozen=True, slots=True)
class Transition:
    """A recorded change of one alert instance."""

    fingerprint: str
    rule_id: str
    from_state: State
    to_state: State
    at: datetime
    level: str = ""
    value: float | None = None
    reason: str = ""
    notify: str = ""  # "firing", "escalated", "resolved" or "" (history only)


_CALM = (State.OK, State.RESOLVED)


def new_state(fingerprint: str, rule_id: str, scope: dict[str, str], now: datetime) -> AlertState:
    """The state of an instance never evaluated before."""
    return AlertState(fingerprint, rule_id, scope, State.OK, now, now)


def step(prev: AlertState, rule: Rule, judgement: Judgement,
         now: datetime) -> tuple[AlertState, Transition | None]:
    """Advance one instance by one evaluation; return the new state and its change, if any."""
    outcome = judgement.outcome
    if outcome is Outcome.OK and prev.firing_since is None and prev.state in _CALM:
        # The common case (a clean value on a quiet instance), built directly: it is most
        # of every pass, and ``replace`` costs several times a constructor call.
        return AlertState(prev.fingerprint, prev.rule_id, prev.scope, prev.state,
                          prev.state_since, now, "", judgement.value, judgement.amount,
                          judgement.threshold, None, None, prev.clear_since, judgement.error,
                          dict(judgement.detail)), None
    common = {
        "evaluated_at": now,
        "value": judgement.value,
        "amount": judgement.amount,
        "threshold": judgement.threshold,
        "detail": dict(judgement.detail),
        "error": judgement.error,
    }
    if judgement.breaching:
        new, reason, notify = _on_breach(prev, rule, outcome.value, now, common)
    elif outcome is Outcome.OK:
        new, reason, notify = _on_clean(prev, rule, now, common)
    else:
        state = State.NODATA if outcome is Outcome.NODATA else State.ERROR
        new = replace(prev, state=state, level=prev.level if prev.incident_open else "",
                      pending_since=None, clear_since=None, **common)
        reason = judgement.error or "no value in the window"
        notify = ""
    if new.state != prev.state:
        new = replace(new, state_since=now)
    elif not notify:
        return new, None
    return new, Transition(prev.fingerprint, prev.rule_id, prev.state, new.state, now,
                           new.level, new.value, reason, notify)


def _on_breach(prev: AlertState, rule: Rule, level: str, now: datetime,
               common: dict) -> tuple[AlertState, str, str]:
    if prev.incident_open:
        escalated = prev.state is State.FIRING and prev.level == "warn" and level == "fail"
        new = replace(prev, state=State.FIRING, level=level, clear_since=None, **common)
        if escalated:
            return new, "warn escalated to fail", "escalated"
        return new, "still breaching", ""
    if prev.state is State.PENDING and prev.pending_since is not None:
        if now - prev.pending_since >= rule.pending:
            return replace(prev, state=State.FIRING, level=level, firing_since=now,
                           pending_since=None, clear_since=None, **common), \
                f"breached for {rule.pending} (pending period)", "firing"
        return replace(prev, level=level, **common), "", ""
    if rule.pending.total_seconds() <= 0:
        return replace(prev, state=State.FIRING, level=level, firing_since=now,
                       pending_since=None, clear_since=None, **common), "breached", "firing"
    return replace(prev, state=State.PENDING, level=level, pending_since=now, **common), \
        "breached; waiting for the pending period", ""


def _on_clean(prev: AlertState, rule: Rule, now: datetime,
              common: dict) -> tuple[AlertState, str, str]:
    if prev.incident_open:
        clear_since = prev.clear_since or now
        if now - clear_since >= rule.keep_firing:
            return replace(prev, state=State.RESOLVED, level="", firing_since=None,
                           pending_since=None, clear_since=None, **common), \
                "clean for the keep-firing period", "resolved"
        return replace(prev, state=State.FIRING, clear_since=clear_since, **common), \
            "clean; keeping it firing for the keep-firing period", ""
    state = State.RESOLVED if prev.state is State.RESOLVED else State.OK
    return replace(prev, state=state, level="", pending_since=None, **common), "clean", ""
