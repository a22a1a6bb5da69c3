"""What happened to an alert: its state changes (``alert_state_history``) and the
stewards' actions on it (``alert_actions``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from alerting.state import Transition
from store.schema_alerting import alert_actions, alert_state_history


def save_transitions(conn: Connection, transitions: Iterable[Transition]) -> None:
    """Append state changes to the history."""
    rows = [{"fingerprint": t.fingerprint, "rule_id": t.rule_id,
             "from_state": t.from_state.value, "to_state": t.to_state.value, "level": t.level,
             "value": t.value, "reason": t.reason[:2000], "notify": t.notify, "at": t.at}
            for t in transitions]
    if rows:
        conn.execute(insert(alert_state_history), rows)


def state_changes(conn: Connection, fingerprint: str) -> list[dict[str, Any]]:
    """The stored state changes of one instance (in the store's order)."""
    return [dict(r) for r in conn.execute(
        select(alert_state_history)
        .where(alert_state_history.c.fingerprint == fingerprint)).mappings()]


def incident_starts(conn: Connection, fingerprints: Iterable[str], now: datetime
                    ) -> dict[str, datetime]:
    """When each instance's latest incident began (its latest move into ``firing`` from a
    calm state): the ``startsAt`` of a resolved alert, whose state no longer has it."""
    fps = sorted(set(fingerprints))
    if not fps:
        return {}
    h = alert_state_history.c
    rows = conn.execute(select(h.fingerprint, func.max(h.at)).where(and_(
        h.fingerprint.in_(fps), h.to_state == "firing",
        h.from_state.in_(("ok", "pending", "resolved")), h.at <= now))
        .group_by(h.fingerprint))
    return {fp: at for fp, at in rows}


def record_action(conn: Connection, fingerprint: str, action: str, value: str, comment: str,
                  actor: str, at: datetime) -> None:
    """Log one steward action (who, when, what, why)."""
    conn.execute(insert(alert_actions).values(
        fingerprint=fingerprint, action=action, value=value, comment=comment,
        actor=actor, at=at))


def actions_of(conn: Connection, fingerprint: str) -> list[dict[str, Any]]:
    """The steward actions on one instance, in the order they were taken."""
    return [dict(r) for r in conn.execute(
        select(alert_actions).where(alert_actions.c.fingerprint == fingerprint)
        .order_by(alert_actions.c.id)).mappings()]
