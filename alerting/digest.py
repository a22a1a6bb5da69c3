"""Planning digests (pure): which alerts go to which steward now, grouped per owner.

One group is (owner, recipient): each steward gets one digest per owning team. A group
sends when something changed (new, escalated or resolved alerts) after ``group_wait`` (the
first time) or ``group_interval`` (later), or re-sends after ``repeat_interval`` while
unacknowledged alerts still fire. Silenced alerts are left out; inhibited ones are listed
with the alert that inhibits them; quiet hours hold a digest unless it carries a new
critical fail and the steward lets those through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerting.policy import NotificationPolicy, Silence, downstream, scope_nodes
from alerting.state import AlertState, State
from rules.model import Rule, Severity

GroupKey = tuple[str, str]  # (owner, recipient)
_ORDER = {"new": 0, "escalated": 1, "firing": 2, "resolved": 3, "inhibited": 4}


@dataclass(frozen=True, slots=True)
class Workflow:
    """A steward's handling of one alert instance (from alerting.workflow)."""

    ack_by: str = ""
    ack_at: datetime | None = None
    assignee: str = ""
    status: str = ""
    status_comment: str = ""


@dataclass(frozen=True, slots=True)
class GroupLog:
    """What a group was last told: when, and each alert's ``level|firing_since`` key."""

    last_sent_at: datetime | None = None
    notified: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inhibitor:
    """The firing outage that suppresses an alert: its rule name and scope."""

    rule_name: str
    scope: tuple[tuple[str, str], ...]

    def reason(self, scope: Mapping[str, str] | None = None) -> str:
        """The sentence for the digest (``scope`` replaces the raw one, e.g. made safe)."""
        pairs = sorted((scope if scope is not None else dict(self.scope)).items())
        where = ", ".join(f"{k} {v}" for k, v in pairs) or "the whole network"
        return f"{self.rule_name} is firing for {where}"


@dataclass(frozen=True, slots=True)
class DigestItem:
    kind: str  # new, escalated, firing, resolved, inhibited
    state: AlertState
    rule: Rule
    workflow: Workflow = Workflow()
    inhibitor: Inhibitor | None = None

    @property
    def inhibited_by(self) -> str:
        """Why it is suppressed, e.g. ``Interface queue age is firing for channel X``."""
        return self.inhibitor.reason() if self.inhibitor else ""

    @property
    def acknowledged(self) -> bool:
        return _acked(self.workflow, self.state)


@dataclass(frozen=True, slots=True)
class Digest:
    owner: str
    recipient: str
    created_at: datetime
    items: tuple[DigestItem, ...]
    repeat: bool = False

    def count(self, *kinds: str) -> int:
        return sum(1 for i in self.items if i.kind in kinds)

    @property
    def dedupe_key(self) -> str:
        """Stable for this digest: the same plan never queues two e-mails."""
        parts = [self.owner, self.recipient, self.created_at.isoformat()]
        parts += sorted(f"{i.kind}:{i.state.fingerprint}:{_key(i.state)}" for i in self.items)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def labels(state: AlertState, rule: Rule) -> dict[str, str]:
    """The labels silences match on: rule, owner, severity, metric, level and the scope."""
    return {**state.scope, "rule": rule.id, "owner": rule.owner, "metric": rule.metric,
            "severity": rule.severity.value, "level": state.level}


def is_active(state: AlertState) -> bool:
    """Firing, or in nodata/error with its incident still open."""
    return state.state is State.FIRING or (
        state.incident_open and state.state in (State.NODATA, State.ERROR))


def _key(state: AlertState) -> str:
    since = state.firing_since.isoformat() if state.firing_since else ""
    return f"{state.level}|{since}" if is_active(state) else "resolved"


def _acked(workflow: Workflow, state: AlertState) -> bool:
    if not workflow.ack_by and workflow.status not in ("expected", "false_positive"):
        return False
    # An acknowledgement belongs to one incident; a new incident needs a new one.
    return workflow.ack_at is None or state.firing_since is None or (
        workflow.ack_at >= state.firing_since)


def inhibited(states: Mapping[str, AlertState], rules: Mapping[str, Rule],
              policy: NotificationPolicy) -> dict[str, Inhibitor]:
    """Fingerprint -> the outage inhibiting it, for active targets downstream of one."""
    out: dict[str, Inhibitor] = {}
    for inh in policy.inhibit:
        source_tags, target_tags = set(inh.source_tags), set(inh.target_tags)
        # node -> the firing outages that reach it (one pass over sources, then a lookup per
        # target: linear in the number of alerts, not sources x targets)
        reach: dict[str, list[AlertState]] = {}
        for fp in sorted(states):
            source = states[fp]
            rule = rules.get(source.rule_id)
            if source.state is not State.FIRING or rule is None or not set(rule.tags) & source_tags:
                continue
            for node in downstream(policy.lineage, scope_nodes(source.scope)):
                reach.setdefault(node, []).append(source)
        if not reach:
            continue
        for fp, state in states.items():
            rule = rules.get(state.rule_id)
            if rule is None or fp in out or not is_active(state):
                continue
            if not set(rule.tags) & target_tags:
                continue
            culprit = _first_other(reach, scope_nodes(state.scope, wildcards=True), fp)
            if culprit is not None:
                out[fp] = Inhibitor(rules[culprit.rule_id].name,
                                    tuple(sorted(culprit.scope.items())))
    return out


def _first_other(reach: Mapping[str, list[AlertState]], nodes: Iterable[str],
                 fp: str) -> AlertState | None:
    """The first outage (by fingerprint) reaching any of ``nodes`` that is not ``fp``."""
    found = [s for node in nodes for s in reach.get(node, ()) if s.fingerprint != fp]
    return min(found, key=lambda s: s.fingerprint) if found else None


def plan_digests(states: Mapping[str, AlertState], rules: Mapping[str, Rule],
                 workflow: Mapping[str, Workflow], silences: Iterable[Silence],
                 policy: NotificationPolicy, logs: Mapping[GroupKey, GroupLog],
                 now: datetime) -> tuple[list[Digest], dict[GroupKey, GroupLog]]:
    """The digests due at ``now`` and the new log of every group that sent one."""
    silences = list(silences)
    held_back = inhibited(states, rules, policy)
    members: dict[GroupKey, list[str]] = {}
    for fp, state in states.items():
        rule = rules.get(state.rule_id)
        if rule is None:
            continue
        for recipient in policy.recipients(rule.owner, rule.severity, rule.stewards):
            key = (rule.owner, recipient)
            if is_active(state) or fp in logs.get(key, GroupLog()).notified:
                members.setdefault(key, []).append(fp)
    digests: list[Digest] = []
    new_logs: dict[GroupKey, GroupLog] = {}
    for key in sorted(members):
        planned = _plan_group(key, members[key], states, rules, workflow, silences, policy,
                              held_back, logs.get(key, GroupLog()), now)
        if planned is not None:
            digests.append(planned[0])
            new_logs[key] = planned[1]
    return digests, new_logs


def _plan_group(key: GroupKey, fps: list[str], states: Mapping[str, AlertState],
                rules: Mapping[str, Rule], workflow: Mapping[str, Workflow],
                silences: list[Silence], policy: NotificationPolicy,
                held_back: dict[str, Inhibitor],
                log: GroupLog, now: datetime) -> tuple[Digest, GroupLog] | None:
    items: list[DigestItem] = []
    keep: dict[str, str] = {}
    changed, repeat_worthy = False, False
    for fp in fps:
        state, rule = states[fp], rules[states[fp].rule_id]
        flow = workflow.get(fp, Workflow())
        told = log.notified.get(fp)
        if any(s.mutes(labels(state, rule), now) for s in silences):
            if told is not None and is_active(state):
                keep[fp] = told
            continue
        if not is_active(state):
            if told is not None and policy.send_resolved:
                items.append(DigestItem("resolved", state, rule, flow))
                changed = True
            continue
        if fp in held_back:
            items.append(DigestItem("inhibited", state, rule, flow, held_back[fp]))
            if told is not None:
                keep[fp] = told  # still owed a resolve notice; not "new" when the outage ends
            continue
        current = _key(state)
        if told is None or told.split("|")[1:] != current.split("|")[1:]:
            kind = "new"
        elif told != current and state.level == "fail":
            kind = "escalated"
        else:
            kind = "firing"
        changed = changed or kind != "firing"
        repeat_worthy = repeat_worthy or (kind == "firing" and not _acked(flow, state))
        items.append(DigestItem(kind, state, rule, flow))
        keep[fp] = current
    if not _due(items, changed, repeat_worthy, log, policy, now):
        return None
    prefs = policy.prefs(key[1])
    if prefs.in_quiet_hours(now):
        urgent = any(i.kind in ("new", "escalated") and i.rule.severity is Severity.CRITICAL
                     and i.state.level == "fail" for i in items)
        if not (urgent and prefs.critical_overrides):
            return None
    items.sort(key=lambda i: (_ORDER[i.kind], i.rule.id, i.state.fingerprint))
    digest = Digest(key[0], key[1], now, tuple(items), repeat=not changed)
    return digest, GroupLog(now if keep else None, keep)


def _due(items: list[DigestItem], changed: bool, repeat_worthy: bool, log: GroupLog,
         policy: NotificationPolicy, now: datetime) -> bool:
    if changed:
        if log.last_sent_at is None:
            first = min((i.state.firing_since or now for i in items if i.kind == "new"),
                        default=now)
            return now >= first + policy.group_wait
        return now >= log.last_sent_at + policy.group_interval
    return repeat_worthy and log.last_sent_at is not None and (
        now >= log.last_sent_at + policy.repeat_interval)
