"""The entry point the collector and the scheduler call: evaluate every rule, store alert
state and history, plan digests and queue them in the outbox, all in one transaction.

Rules come from ``<data_dir>/rules/*.yaml`` when that folder holds rule files, else from
the shipped pack (``rules/pack``); the policy from ``<data_dir>/alerting.yaml`` when
present, else ``alerting/policy.yaml``. A refused rule file keeps the running rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from alerting.digest import plan_digests
from alerting.evaluation import evaluate
from alerting.outbox import enqueue
from alerting.policy import NotificationPolicy, load_policy
from alerting.store import (
    load_group_logs,
    load_silences,
    load_states,
    load_workflow,
    record_rule_versions,
    save_group_logs,
    save_states,
    save_transitions,
)
from chargeline.config import Settings
from chargeline.errors import RuleFileError
from chargeline.metric_values import MetricReader
from rules.loader import PACK_DIR, RuleRegistry, RuleSet

log = logging.getLogger(__name__)
REGISTRY = RuleRegistry()


@dataclass
class NotifyReport:
    """What one pass did (for the collector run log and the CLI)."""

    evaluated: int = 0
    transitions: int = 0
    firing: int = 0
    digests: int = 0
    queued: int = 0
    rule_errors: dict[str, str] = field(default_factory=dict)
    rule_file_problems: list[str] = field(default_factory=list)


def rule_paths(settings: Settings) -> list[Path]:
    """The site's rule folder when it has rule files, else the shipped pack."""
    site = Path(settings.data_dir) / "rules"
    if site.is_dir() and any(p.suffix in (".yaml", ".yml") for p in site.iterdir()):
        return [site]
    return [PACK_DIR]


def policy_for(settings: Settings) -> NotificationPolicy:
    site = Path(settings.data_dir) / "alerting.yaml"
    return load_policy(site if site.is_file() else None)


def current_rules(settings: Settings) -> tuple[RuleSet, list[str]]:
    """Reload the rule files; on problems keep the running rules and return the problems."""
    problems = REGISTRY.reload(rule_paths(settings))
    if problems and not REGISTRY.current.rules:
        raise RuleFileError(problems)  # nothing was running: refuse loudly
    for problem in problems:
        log.error("rule file refused, previous rules keep running: %s", problem)
    return REGISTRY.current, problems


def evaluate_and_notify(engine: Engine, settings: Settings, reader: MetricReader,
                        now: datetime, *, rules: RuleSet | None = None,
                        policy: NotificationPolicy | None = None) -> NotifyReport:
    """Evaluate the rules at ``now``, store state and history, queue due digests."""
    problems: list[str] = []
    if rules is None:
        rules, problems = current_rules(settings)
    policy = policy or policy_for(settings)
    with engine.connect() as conn:
        previous = load_states(conn)
    result = evaluate(rules.rules, reader, previous, now)  # reads metrics; no write lock held
    owners = {r.id: r.owner for r in rules.rules}
    report = NotifyReport(evaluated=len(result.states), transitions=len(result.transitions),
                          rule_errors=result.rule_errors, rule_file_problems=problems)
    with engine.begin() as conn:
        save_states(conn, result.states.values(), previous, owners)
        save_transitions(conn, result.transitions)
        record_rule_versions(conn, rules, now)
        digests, logs = plan_digests(result.states, rules.by_id, load_workflow(conn),
                                     load_silences(conn, now), policy, load_group_logs(conn),
                                     now)
        report.queued = enqueue(conn, digests, settings, now)
        save_group_logs(conn, logs)
    report.digests = len(digests)
    report.firing = sum(1 for s in result.states.values() if s.state.value == "firing")
    return report


def notify(engine: Engine, settings: Settings, now: datetime, *, rules: RuleSet | None = None,
           policy: NotificationPolicy | None = None) -> int:
    """Plan and queue due digests from the stored state alone (group and repeat timers)."""
    if rules is None:
        rules, _ = current_rules(settings)
    policy = policy or policy_for(settings)
    with engine.begin() as conn:
        digests, logs = plan_digests(load_states(conn), rules.by_id, load_workflow(conn),
                                     load_silences(conn, now), policy, load_group_logs(conn),
                                     now)
        queued = enqueue(conn, digests, settings, now)
        save_group_logs(conn, logs)
    return queued
