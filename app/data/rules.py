"""The alert states and state history of the rules, and the rule-file versions the
evaluator loaded, read in SQL (no Streamlit here; the rules themselves, as a page shows
them, are ``app.shaping.rules``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from store.schema_alerting import alert_instances, alert_state_history, rule_file_versions


def states_by_rule(conn: Connection) -> dict[str, dict[str, int]]:
    """Per rule id: how many of its alert instances are in each state."""
    out: dict[str, dict[str, int]] = {}
    rows = conn.execute(select(alert_instances.c.rule_id, alert_instances.c.state, func.count())
                        .group_by(alert_instances.c.rule_id, alert_instances.c.state))
    for rule_id, state, n in rows:
        out.setdefault(rule_id, {})[state] = int(n)
    return out


def versions(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The rule-file versions the evaluator loaded, newest first."""
    v = rule_file_versions.c
    rows = conn.execute(select(v.path, v.sha256, v.rule_ids, v.loaded_at)
                        .order_by(v.loaded_at.desc()).limit(limit)).mappings()
    return [{**r, "sha256": r["sha256"][:12]} for r in rows]


def history(conn: Connection, rule_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """State changes of one rule's instances, newest first."""
    h = alert_state_history.c
    rows = conn.execute(select(h.at, h.fingerprint, h.from_state, h.to_state, h.level, h.value,
                               h.reason)
                        .where(h.rule_id == rule_id).order_by(h.at.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]
