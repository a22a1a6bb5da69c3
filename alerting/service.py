"""The entry points the collector pipeline and the scheduler call.

    evaluate_and_notify(engine, settings, reader, now, lineage=...)  after collection
    alerting.outbox.dispatch(engine, settings, now)                  then send what is queued
    run_pass(engine, settings, reader, lineage, now)                 both (chargeline.pipeline
                                                                     calls it after collection
                                                                     and every 60 s)

The metric reader and the live lineage are handed in by the caller (chargeline.pipeline,
alerting.cli), which builds them from the metrics package: alerting evaluates whatever
reader it is given, and tests hand in a table of values.

A pass reads every metric first (no lock held), then, under the alerting lock and in one
transaction, loads the stored states, steps them, writes state and history, plans the
digests and queues them in the outbox, and logs the pass. A pass older than one already
stored is skipped, so two collectors never step the same alerts twice.

Rules come from ``<data_dir>/rules/*.yaml`` when that folder holds rule files, else from
the shipped pack (``rules/pack``); the policy from ``<data_dir>/alerting.yaml`` when
present, else ``alerting/policy.yaml``. A refused rule file keeps the running rules, and
after a restart the last good set the store kept (``alerting.data.rule_versions``);
the refusal itself is an alert instance in the ``error`` state (rule ``rule-files``)
naming each file and line, until the files load again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from alerting.data.groups import load_group_logs, save_group_logs
from alerting.data.history import save_transitions
from alerting.data.instances import load_states, load_workflow, save_states
from alerting.data.passes import begin_pass, finish_pass, latest_pass_at
from alerting.data.rule_versions import record_rule_versions, rules_in_force
from alerting.data.silences import load_silences
from alerting.digest import plan_digests
from alerting.evaluation import Reading, ReadKey, evaluate_readings, read_all
from alerting.outbox import DispatchReport, dispatch, enqueue
from alerting.policy import NotificationPolicy, load_policy
from alerting.receivers import with_receivers
from alerting.state import AlertState, State, Transition
from core.config import Settings
from core.errors import RuleFileError
from core.metric_values import MetricReader
from rules.loader import RuleRegistry, RuleSet, describe, live_rule_paths, rules_from_texts

log = logging.getLogger(__name__)
REGISTRY = RuleRegistry()

LineageReader = Callable[[Engine, Settings, datetime], Mapping[str, list[str]]]
"""The estate's live lineage map (``node -> dependents``) at a time, for inhibition along
it; the callers compose it from ``metrics.lineage`` (``lineage_map(system_graph(...))``)."""


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
_LINEAGE_CACHE: dict[str, tuple[datetime, Mapping[str, list[str]]]] = {}


def cached_lineage(engine: Engine, settings: Settings, now: datetime, read: LineageReader
                   ) -> Mapping[str, list[str]]:
    """The estate's live lineage map from ``read``, cached for ``LINEAGE_TTL``; empty
    (logged) when it cannot be built, so a lineage problem never stops alerting."""
    key = (engine.url.render_as_string(hide_password=True)
           + "|" + ",".join(sorted(s.name for s in settings.sources)))
    cached = _LINEAGE_CACHE.get(key)
    if cached is not None and abs(now - cached[0]) < LINEAGE_TTL:
        return cached[1]
    try:
        edges = read(engine, settings, now)
    except Exception:  # the policy's own edges still apply
        log.exception("the live lineage could not be read; inhibiting along the policy only")
        edges = {}
    _LINEAGE_CACHE[key] = (now, edges)
    return edges


def _with_live_lineage(policy: NotificationPolicy, engine: Engine, settings: Settings,
                       now: datetime, lineage: LineageReader | None) -> NotificationPolicy:
    """``policy`` with the live lineage merged in when it asks for it (``lineage_from_store``)
    and the caller handed a lineage reader in; else the policy's own edges alone."""
    if policy.lineage_from_store and lineage is not None:
        return policy.with_lineage(cached_lineage(engine, settings, now, lineage))
    return policy


def evaluate_and_notify(engine: Engine, settings: Settings, reader: MetricReader,
                        now: datetime, *, rules: RuleSet | None = None,
                        policy: NotificationPolicy | None = None,
                        lineage: LineageReader | None = None) -> NotifyReport:
    """Evaluate the rules at ``now``, store state and history, queue due digests.

    ``lineage`` reads the estate's live lineage for a policy with ``lineage_from_store``;
    without it (tests) only the policy's own edges inhibit."""
    problems: list[str] = []
    if rules is None:
        rules, problems = current_rules(settings, engine)
    policy = with_receivers(policy or policy_for(settings), settings)
    policy = _with_live_lineage(policy, engine, settings, now, lineage)
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
           policy: NotificationPolicy | None = None,
           lineage: LineageReader | None = None) -> int:
    """Plan and queue due digests from the stored state alone (group and repeat timers);
    ``lineage`` as for ``evaluate_and_notify``."""
    if rules is None:
        rules, _ = current_rules(settings, engine)
    policy = with_receivers(policy or policy_for(settings), settings)
    policy = _with_live_lineage(policy, engine, settings, now, lineage)
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


def run_pass(engine: Engine, settings: Settings, reader: MetricReader, lineage: LineageReader,
             now: datetime | None = None) -> tuple[NotifyReport, DispatchReport]:
    """One scheduled pass: evaluate with ``reader``'s metrics (the store's, built by the
    caller), inhibit along ``lineage``, queue digests, send them."""
    now = now or datetime.now(UTC)
    report = evaluate_and_notify(engine, settings, reader, now, lineage=lineage)
    return report, dispatch(engine, settings, now)
