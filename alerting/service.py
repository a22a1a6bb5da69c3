"""The entry points the collector pipeline and the scheduler call.

    evaluate_and_notify(engine, settings, reader, now)   after every collection pass
    alerting.outbox.dispatch(engine, settings, now)       then send what was queued
    run_pass(engine, settings, now)                       both, with the store's metric
                                                          reader (chargeline.pipeline calls
                                                          it after collection and every 60 s)

A pass reads every metric first (no lock held), then, under the alerting lock and in one
transaction, loads the stored states, steps them, writes state and history, plans the
digests and queues them in the outbox, and logs the pass. A pass older than one already
stored is skipped, so two collectors never step the same alerts twice.

Rules come from ``<data_dir>/rules/*.yaml`` when that folder holds rule files, else from
the shipped pack (``rules/pack``); the policy from ``<data_dir>/alerting.yaml`` when
present, else ``alerting/policy.yaml``. A refused rule file keeps the running rules.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from alerting.digest import plan_digests
from alerting.evaluation import Reading, ReadKey, evaluate_readings, read_all
from alerting.outbox import DispatchReport, dispatch, enqueue
from alerting.policy import NotificationPolicy, load_policy
from alerting.state import State
from alerting.store import (
    begin_pass,
    finish_pass,
    latest_pass_at,
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
    skipped: str = ""  # why the pass wrote nothing (a newer pass already ran)
    rule_errors: dict[str, str] = field(default_factory=dict)
    rule_file_problems: list[str] = field(default_factory=list)


def rule_paths(settings: Settings) -> list[Path]:
    """The site's rule folder when it has rule files, else the shipped pack."""
    site = Path(settings.data_dir) / "rules"
    if site.is_dir() and any(p.suffix in (".yaml", ".yml") for p in site.iterdir()):
        return [site]
    return [PACK_DIR]


def policy_for(settings: Settings) -> NotificationPolicy:
    """The site's notification policy (``<data_dir>/alerting.yaml``) or the shipped one."""
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


LINEAGE_TTL = timedelta(minutes=10)  # the estate's shape changes slowly; reading it is not free
_LINEAGE_CACHE: dict[str, tuple[datetime, dict[str, list[str]]]] = {}


def store_lineage(engine: Engine, settings: Settings, now: datetime) -> dict[str, list[str]]:
    """The estate's live lineage map from the metrics package, cached for ``LINEAGE_TTL``;
    empty (logged) when it cannot be built, so a lineage problem never stops alerting."""
    key = (engine.url.render_as_string(hide_password=True)
           + "|" + ",".join(sorted(s.name for s in settings.sources)))
    cached = _LINEAGE_CACHE.get(key)
    if cached is not None and abs(now - cached[0]) < LINEAGE_TTL:
        return cached[1]
    try:
        from metrics.lineage import lineage_map
        from metrics.lineage_store import system_graph

        edges = lineage_map(system_graph(engine, settings, now))
    except Exception:  # the policy's own edges still apply
        log.exception("the live lineage could not be read; inhibiting along the policy only")
        edges = {}
    _LINEAGE_CACHE[key] = (now, edges)
    return edges


def evaluate_and_notify(engine: Engine, settings: Settings, reader: MetricReader,
                        now: datetime, *, rules: RuleSet | None = None,
                        policy: NotificationPolicy | None = None) -> NotifyReport:
    """Evaluate the rules at ``now``, store state and history, queue due digests."""
    problems: list[str] = []
    if rules is None:
        rules, problems = current_rules(settings)
    policy = policy or policy_for(settings)
    if policy.lineage_from_store:
        policy = policy.with_lineage(store_lineage(engine, settings, now))
    readings = read_all(rules.rules, reader, now)  # metric reads hold no alerting lock
    report = NotifyReport(rule_file_problems=problems)
    with engine.begin() as conn:
        pass_id = begin_pass(conn, now, datetime.now(UTC))
        latest = latest_pass_at(conn, pass_id)
        if latest is not None and latest > now:
            report.skipped = f"a pass at {latest.isoformat()} already ran"
            finish_pass(conn, pass_id, skipped=report.skipped, finished_at=datetime.now(UTC))
            return report
        _step_and_queue(conn, rules, readings, policy, settings, now, report, pass_id)
        finish_pass(conn, pass_id, instances=report.evaluated, transitions=report.transitions,
                    firing=report.firing, digests=report.digests, queued=report.queued,
                    rule_errors_json=json.dumps(report.rule_errors, sort_keys=True),
                    rule_file_problems="\n".join(problems), finished_at=datetime.now(UTC))
    return report


def _step_and_queue(conn: Connection, rules: RuleSet, readings: dict[ReadKey, Reading],
                    policy: NotificationPolicy, settings: Settings, now: datetime,
                    report: NotifyReport, pass_id: int) -> None:
    previous = load_states(conn)
    result = evaluate_readings(rules.rules, readings, previous, now)
    owners = {r.id: r.owner for r in rules.rules}
    save_states(conn, result.states.values(), previous, owners, pass_no=pass_id)
    save_transitions(conn, result.transitions)
    record_rule_versions(conn, rules, now)
    digests, logs = plan_digests(result.states, rules.by_id, load_workflow(conn),
                                 load_silences(conn, now), policy, load_group_logs(conn), now)
    report.queued = enqueue(conn, digests, settings, now)
    save_group_logs(conn, logs)
    report.evaluated = len(result.states)
    report.transitions = len(result.transitions)
    report.rule_errors = result.rule_errors
    report.digests = len(digests)
    report.firing = sum(1 for s in result.states.values() if s.state is State.FIRING)


def notify(engine: Engine, settings: Settings, now: datetime, *, rules: RuleSet | None = None,
           policy: NotificationPolicy | None = None) -> int:
    """Plan and queue due digests from the stored state alone (group and repeat timers)."""
    if rules is None:
        rules, _ = current_rules(settings)
    policy = policy or policy_for(settings)
    if policy.lineage_from_store:
        policy = policy.with_lineage(store_lineage(engine, settings, now))
    with engine.begin() as conn:
        pass_id = begin_pass(conn, now, datetime.now(UTC))  # the same lock as a full pass
        digests, logs = plan_digests(load_states(conn), rules.by_id, load_workflow(conn),
                                     load_silences(conn, now), policy, load_group_logs(conn),
                                     now)
        queued = enqueue(conn, digests, settings, now)
        save_group_logs(conn, logs)
        finish_pass(conn, pass_id, digests=len(digests), queued=queued,
                    skipped="digests only (no evaluation)", finished_at=datetime.now(UTC))
    return queued


def store_reader(engine: Engine, settings: Settings) -> MetricReader:
    """The metrics package's reader over the store (imported late: metrics is a peer)."""
    from metrics.reader import StoreMetricReader

    return StoreMetricReader(engine, settings)  # type: ignore[call-arg]


def run_pass(engine: Engine, settings: Settings, now: datetime | None = None,
             reader: MetricReader | None = None) -> tuple[NotifyReport, DispatchReport]:
    """One scheduled pass: evaluate with the store's metrics, queue digests, send them."""
    now = now or datetime.now(UTC)
    report = evaluate_and_notify(engine, settings, reader or store_reader(engine, settings), now)
    return report, dispatch(engine, settings, now)
