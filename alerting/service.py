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
present, else ``alerting/policy.yaml``. A refused rule file keeps the running rules, and
after a restart the last good set the store kept (``alerting.store.rules_in_force``);
the refusal itself is an alert instance in the ``error`` state (rule ``rule-files``)
naming each file and line, until the files load again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from alerting.digest import plan_digests
from alerting.evaluation import Reading, ReadKey, evaluate_readings, read_all
from alerting.outbox import DispatchReport, dispatch, enqueue
from alerting.policy import NotificationPolicy, load_policy
from alerting.receivers import with_receivers
from alerting.state import AlertState, State, Transition
from alerting.store import (
    begin_pass,
    finish_pass,
    latest_pass_at,
    load_group_logs,
    load_silences,
    load_states,
    load_workflow,
    record_rule_versions,
    rules_in_force,
    save_group_logs,
    save_states,
    save_transitions,
)
from core.config import Settings
from core.errors import RuleFileError
from core.metric_values import MetricReader
from rules.loader import RuleRegistry, RuleSet, describe, live_rule_paths, rules_from_texts

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
    rules_in_force: str = ""  # which files and how many rules the pass ran


def rule_paths(settings: Settings) -> list[Path]:
    """The site's rule folder when it has rule files, else the shipped pack."""
    return live_rule_paths(settings.data_dir)


def policy_for(settings: Settings) -> NotificationPolicy:
    """The site's notification policy (``<data_dir>/alerting.yaml``) or the shipped one."""
    site = Path(settings.data_dir) / "alerting.yaml"
    return load_policy(site if site.is_file() else None)


def current_rules(settings: Settings, engine: Engine | None = None
                  ) -> tuple[RuleSet, list[str]]:
    """Reload the rule files; on problems keep the running rules (none running: the last
    good set stored in ``engine``) and return the problems."""
    before = REGISTRY.current
    problems = REGISTRY.reload(rule_paths(settings))
    if problems and not REGISTRY.current.rules and engine is not None:
        with engine.connect() as conn:
            stored = rules_in_force(conn)
        if stored:
            try:
                REGISTRY.current = rules_from_texts(stored)
            except RuleFileError as exc:  # e.g. a metric this version no longer has
                problems = [*problems, *(f"the last good rule set: {p}" for p in exc.problems)]
    if problems and not REGISTRY.current.rules:
        raise RuleFileError(problems)  # nothing to run: refuse loudly
    for problem in problems:
        log.error("rule file refused, the last good rules keep running: %s", problem)
    if REGISTRY.current is not before:
        log.info("rules in force: %s", describe(REGISTRY.current))
    return REGISTRY.current, problems


RULE_FILES_ID = "rule-files"  # the alert instance of refused rule files
_RULE_FILES_FP = RULE_FILES_ID + "|"


def rule_files_state(previous: AlertState | None, problems: list[str], now: datetime
                     ) -> tuple[AlertState | None, Transition | None]:
    """The ``rule-files`` instance after a pass: ``error`` naming every refused file and
    line while there are problems, ``ok`` again once the files load (pure)."""
    if problems:
        error = "rule files refused, the last good rules keep running: " + "; ".join(problems)
        if previous is not None and previous.state is State.ERROR:
            return replace(previous, evaluated_at=now, error=error[:2000]), None
        state = AlertState(_RULE_FILES_FP, RULE_FILES_ID, {}, State.ERROR, now, now,
                           error=error[:2000])
        return state, Transition(_RULE_FILES_FP, RULE_FILES_ID,
                                 previous.state if previous else State.OK, State.ERROR, now,
                                 reason=error[:2000])
    if previous is None or previous.state is not State.ERROR:
        return previous, None
    return (replace(previous, state=State.OK, state_since=now, evaluated_at=now, error=""),
            Transition(_RULE_FILES_FP, RULE_FILES_ID, State.ERROR, State.OK, now,
                       reason="the rule files load again"))


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
        from metrics.lineage.data import system_graph
        from metrics.lineage.graph import lineage_map

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
        rules, problems = current_rules(settings, engine)
    policy = with_receivers(policy or policy_for(settings), settings)
    if policy.lineage_from_store:
        policy = policy.with_lineage(store_lineage(engine, settings, now))
    readings = read_all(rules.rules, reader, now)  # metric reads hold no alerting lock
    report = NotifyReport(rule_file_problems=problems, rules_in_force=describe(rules))
    with engine.begin() as conn:
        pass_id = begin_pass(conn, now, datetime.now(UTC))
        latest = latest_pass_at(conn, pass_id)
        if latest is not None and latest > now:
            report.skipped = f"a pass at {latest.isoformat()} already ran"
            finish_pass(conn, pass_id, skipped=report.skipped, finished_at=datetime.now(UTC))
            return report
        _step_and_queue(conn, rules, readings, policy, settings, now, report, pass_id,
                        problems)
        finish_pass(conn, pass_id, instances=report.evaluated, transitions=report.transitions,
                    firing=report.firing, digests=report.digests, queued=report.queued,
                    rule_errors_json=json.dumps(report.rule_errors, sort_keys=True),
                    rule_file_problems="\n".join(problems), finished_at=datetime.now(UTC))
    return report


def _step_and_queue(conn: Connection, rules: RuleSet, readings: dict[ReadKey, Reading],
                    policy: NotificationPolicy, settings: Settings, now: datetime,
                    report: NotifyReport, pass_id: int, problems: list[str]) -> None:
    previous = load_states(conn)
    result = evaluate_readings(rules.rules, readings, previous, now)
    files, change = rule_files_state(previous.get(_RULE_FILES_FP), problems, now)
    if files is not None:
        result.states[files.fingerprint] = files
    if change is not None:
        result.transitions.append(change)
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
        rules, _ = current_rules(settings, engine)
    policy = with_receivers(policy or policy_for(settings), settings)
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
    from metrics.read.reader import StoreMetricReader

    return StoreMetricReader(engine, settings)  # type: ignore[call-arg]


def run_pass(engine: Engine, settings: Settings, now: datetime | None = None,
             reader: MetricReader | None = None) -> tuple[NotifyReport, DispatchReport]:
    """One scheduled pass: evaluate with the store's metrics, queue digests, send them."""
    now = now or datetime.now(UTC)
    report = evaluate_and_notify(engine, settings, reader or store_reader(engine, settings), now)
    return report, dispatch(engine, settings, now)
