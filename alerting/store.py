"""Reading and writing the alerting tables (the only module of ``alerting`` that speaks SQL
besides the outbox dispatcher). Functions take an open ``Connection``: the caller owns the
transaction, so alert state, history, group logs and outbox rows commit together."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from alerting.bulk import select_rows, update_rows
from alerting.digest import GroupKey, GroupLog, Workflow
from alerting.policy import Matcher, Silence
from alerting.state import AlertState, State, Transition
from rules.loader import RuleSet
from store.schema_alerting import (
    alert_evaluations,
    alert_instances,
    alert_silences,
    alert_state_history,
    notification_groups,
    rule_file_versions,
)
from store.upsert import insert_ignore, upsert_rows

# Any constant works; it only has to be the same in every process that evaluates.
_PG_LOCK_KEY = 0x43484C4E  # "CHLN"


def begin_pass(conn: Connection, at: datetime, started_at: datetime) -> int:
    """Serialise evaluation passes across processes and log this one; return its id.

    On PostgreSQL a transaction-scoped advisory lock; on SQLite the INSERT below takes the
    database write lock at once. Either way it is held until the caller's commit, so two
    collectors never plan the same digest twice.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    return int(conn.execute(insert(alert_evaluations).values(at=at, started_at=started_at)
                            .returning(alert_evaluations.c.id)).scalar_one())


def latest_pass_at(conn: Connection, before_id: int) -> datetime | None:
    """The evaluation time of the newest pass that stepped the alerts before ``before_id``."""
    c = alert_evaluations.c
    return conn.execute(select(func.max(c.at)).where(c.id < before_id, c.skipped == "")).scalar()


def finish_pass(conn: Connection, pass_id: int, **values: Any) -> None:
    """Write the figures of a pass into its log row."""
    conn.execute(update(alert_evaluations).where(alert_evaluations.c.id == pass_id)
                 .values(**values))


_LOAD_COLUMNS = ("fingerprint", "rule_id", "scope_json", "state", "state_since",
                 "evaluated_at", "level", "value", "amount", "threshold", "pending_since",
                 "firing_since", "clear_since", "error", "detail_json")
_STATES = {s.value: s for s in State}


@lru_cache(maxsize=65536)
def _scope(text: str) -> dict[str, str]:
    # Scopes repeat across rules (every rule by facility shares the facility scopes), so a
    # pass parses each distinct one once. The dicts are shared: nothing mutates a scope.
    return json.loads(text)


def load_states(conn: Connection) -> dict[str, AlertState]:
    """Every stored alert instance."""
    out = {}
    loads = json.loads
    for (fp, rule_id, scope, state, state_since, evaluated_at, level, value, amount,
         threshold, pending_since, firing_since, clear_since, error,
         detail) in select_rows(conn, "alert_instances", _LOAD_COLUMNS):
        out[fp] = AlertState(
            fp, rule_id, _scope(scope), _STATES[state], state_since, evaluated_at, level,
            value, amount, threshold, pending_since, firing_since, clear_since, error,
            loads(detail) if detail != "{}" else {})
    return out


def load_workflow(conn: Connection) -> dict[str, Workflow]:
    """The steward handling of every instance somebody touched (the rest have none)."""
    cols = alert_instances.c
    rows = conn.execute(select(cols.fingerprint, cols.ack_by, cols.ack_at, cols.assignee,
                               cols.status, cols.status_comment)
                        .where(or_(cols.ack_by != "", cols.assignee != "", cols.status != "")))
    return {r.fingerprint: Workflow(r.ack_by, r.ack_at, r.assignee, r.status, r.status_comment)
            for r in rows}


def _changes(state: AlertState, owner: str) -> dict[str, Any]:
    return {
        "owner": owner, "state": state.state.value,
        "level": state.level, "value": state.value, "amount": state.amount,
        "threshold": state.threshold,
        "detail_json": json.dumps(state.detail, sort_keys=True) if state.detail else "{}",
        "error": state.error[:2000], "state_since": state.state_since,
        "evaluated_at": state.evaluated_at, "pending_since": state.pending_since,
        "firing_since": state.firing_since, "clear_since": state.clear_since,
    }


# What a pass may change on a known instance (its rule and scope are its identity; the
# workflow columns belong to the stewards).
_STATE_COLUMNS = [c for c in alert_instances.c.keys() if c not in (  # noqa: SIM118
    "fingerprint", "rule_id", "scope_json", "ack_by", "ack_at", "assignee", "status",
    "status_comment")]
# Calm instances (ok, resolved) whose state machine did not move are re-written only when
# their bucket comes round (one pass in CALM_REFRESH_PASSES): their latest value is for the
# record, and writing 25,000 unchanged states every pass would cost most of the pass. Any
# state change, and every change of a pending/firing/nodata/error instance, is written at once.
CALM_REFRESH_PASSES = 10
_CALM = (State.OK, State.RESOLVED)


def _clock(state: AlertState) -> tuple:
    return (state.state, state.level, state.state_since, state.pending_since,
            state.firing_since, state.clear_since)


def _due(before: AlertState, state: AlertState, refresh: int | None) -> bool:
    if before == state:
        return False
    if refresh is None or state.state not in _CALM or _clock(before) != _clock(state):
        return True
    return zlib.crc32(state.fingerprint.encode()) % CALM_REFRESH_PASSES == refresh


def save_states(conn: Connection, states: Iterable[AlertState],
                previous: Mapping[str, AlertState], owners: Mapping[str, str],
                pass_no: int | None = None) -> int:
    """Write instances that changed since ``previous`` (loaded in this transaction, under
    the alerting lock): UPDATE the known ones, INSERT the new; workflow columns untouched.
    With ``pass_no``, calm instances whose only change is their value are written in one
    pass out of ``CALM_REFRESH_PASSES`` (staggered by fingerprint)."""
    refresh = None if pass_no is None else pass_no % CALM_REFRESH_PASSES
    new_rows, changed_rows = [], []
    for state in states:
        before = previous.get(state.fingerprint)
        if before is None:
            row = _changes(state, owners.get(state.rule_id, ""))
            row.update(fingerprint=state.fingerprint, rule_id=state.rule_id,
                       scope_json=json.dumps(state.scope, sort_keys=True))
            new_rows.append(row)
        elif _due(before, state, refresh):
            row = _changes(state, owners.get(state.rule_id, ""))
            row["fingerprint"] = state.fingerprint
            changed_rows.append(row)
    update_rows(conn, "alert_instances", "fingerprint", _STATE_COLUMNS, changed_rows)
    if new_rows:
        conn.execute(insert(alert_instances), new_rows)
    return len(new_rows) + len(changed_rows)


def save_transitions(conn: Connection, transitions: Iterable[Transition]) -> None:
    rows = [{"fingerprint": t.fingerprint, "rule_id": t.rule_id,
             "from_state": t.from_state.value, "to_state": t.to_state.value, "level": t.level,
             "value": t.value, "reason": t.reason[:2000], "notify": t.notify, "at": t.at}
            for t in transitions]
    if rows:
        conn.execute(insert(alert_state_history), rows)


def load_silences(conn: Connection, now: datetime) -> list[Silence]:
    """Silences not yet expired at ``now`` (including those that start later)."""
    rows = conn.execute(select(alert_silences).where(alert_silences.c.ends_at > now)
                        .order_by(alert_silences.c.id)).mappings()
    return [Silence(r["id"], tuple(Matcher.parse(m) for m in json.loads(r["matchers_json"])),
                    r["starts_at"], r["ends_at"], r["author"], r["comment"]) for r in rows]


def load_group_logs(conn: Connection) -> dict[GroupKey, GroupLog]:
    return {(r.owner, r.recipient): GroupLog(r.last_sent_at, json.loads(r.notified_json))
            for r in conn.execute(select(notification_groups))}


def save_group_logs(conn: Connection, logs: Mapping[GroupKey, GroupLog]) -> None:
    rows = [{"owner": owner, "recipient": recipient, "last_sent_at": log.last_sent_at,
             "notified_json": json.dumps(log.notified, sort_keys=True)}
            for (owner, recipient), log in logs.items()]
    if rows:
        upsert_rows(conn, notification_groups, rows)


# The set of files in force is kept as one more row of rule_file_versions under this
# path (its content the files' paths and hashes), so a restart that meets a broken rule
# file runs the last good set instead of nothing.
IN_FORCE_PATH = "(rules in force)"


def record_rule_versions(conn: Connection, ruleset: RuleSet, now: datetime) -> None:
    """Keep each distinct rule file content once (rules are versioned by their files), and
    which of them are in force."""
    if not ruleset.sources:
        return  # a rule set built in memory (tests, the dashboard's preview)
    insert_ignore(conn, rule_file_versions, [
        {"path": s.path, "sha256": s.sha256, "rule_ids": ",".join(s.rule_ids),
         "content": s.text, "loaded_at": now} for s in ruleset.sources])
    manifest = json.dumps([[s.path, s.sha256] for s in ruleset.sources])
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    v = rule_file_versions.c
    if conn.execute(select(v.id).where(v.path == IN_FORCE_PATH, v.sha256 == digest)).first():
        return  # the same set as the last pass
    conn.execute(delete(rule_file_versions).where(v.path == IN_FORCE_PATH))
    conn.execute(insert(rule_file_versions).values(
        path=IN_FORCE_PATH, sha256=digest, content=manifest, loaded_at=now,
        rule_ids=",".join(r.id for r in ruleset.rules)[:100_000]))


def rules_in_force(conn: Connection) -> list[tuple[str, str]]:
    """(path, content) of each file of the last rule set a pass ran, or [] before any."""
    v = rule_file_versions.c
    manifest = conn.execute(select(v.content).where(v.path == IN_FORCE_PATH)).scalar()
    if manifest is None:
        return []
    out = []
    for path, sha in json.loads(manifest):
        text = conn.execute(select(v.content).where(v.path == path, v.sha256 == sha)).scalar()
        if text is not None:
            out.append((path, text))
    return out


def delete_instances_of(conn: Connection, rule_ids: Iterable[str]) -> None:
    conn.execute(delete(alert_instances).where(alert_instances.c.rule_id.in_(list(rule_ids))))
