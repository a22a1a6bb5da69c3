"""Alert instances (``alert_instances``): the state machine's stored state, written by a
pass, and the steward workflow columns beside it, written by ``alerting.workflow``."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from alerting.data.bulk import select_rows, update_rows
from alerting.digest import Workflow
from alerting.state import AlertState, State
from store.schema_alerting import alert_instances

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


def select_alerts(conn: Connection, states: Sequence[str], owner: str, rule_id: str
                  ) -> list[dict[str, Any]]:
    """Instances as rows, newest state change first; empty filters do not filter."""
    c = alert_instances.c
    query = select(alert_instances).order_by(c.state_since.desc(), c.fingerprint)
    if states:
        query = query.where(c.state.in_(list(states)))
    if owner:
        query = query.where(c.owner == owner)
    if rule_id:
        query = query.where(c.rule_id == rule_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def set_workflow(conn: Connection, fingerprint: str, columns: Mapping[str, Any]) -> bool:
    """Write steward workflow columns of one instance; False when there is no such one."""
    done = conn.execute(update(alert_instances)
                        .where(alert_instances.c.fingerprint == fingerprint)
                        .values(**columns))
    return done.rowcount == 1


def delete_instances_of(conn: Connection, rule_ids: Iterable[str]) -> None:
    """Forget every instance of these rules."""
    conn.execute(delete(alert_instances).where(alert_instances.c.rule_id.in_(list(rule_ids))))
