"""The alert inbox, shaped for display (pure): rows from ``alerting.workflow.list_alerts``
become a table, a label per alert, and the matchers a silence of it would use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from alerting.workflow import AlertRow
from rules.model import SCOPE_KEYS

ACTIVE_STATES = ("firing", "pending", "error", "nodata")
STATE_COLOUR = {"firing": "red", "pending": "orange", "error": "violet", "nodata": "gray",
                "resolved": "green", "ok": "green"}
COLUMNS = ["state", "rule", "scope", "level", "value", "amount_usd", "since", "acknowledged",
           "assignee", "status"]


def scope_text(scope: dict[str, str]) -> str:
    """``facility=FAC01, channel=FAC01_CHG_OUT`` (sorted), or ``network``."""
    return ", ".join(f"{k}={scope[k]}" for k in sorted(scope)) or "network"


def label(row: AlertRow) -> str:
    """One line naming an alert in a select box."""
    return f"{row.state.upper()} · {row.rule_id} · {scope_text(row.scope)}"


def inbox(rows: Sequence[AlertRow], *, include_recent: bool, now: datetime,
          recent_hours: int = 72) -> list[AlertRow]:
    """Active alerts first (firing, then the rest), then recently resolved ones."""
    order = {s: i for i, s in enumerate(ACTIVE_STATES)}
    active = sorted((r for r in rows if r.state in ACTIVE_STATES),
                    key=lambda r: (order[r.state], -(r.state_since.timestamp())))
    recent = []
    if include_recent:
        cutoff = now.timestamp() - recent_hours * 3600
        recent = [r for r in rows if r.state == "resolved" and r.state_since.timestamp() >= cutoff]
    return active + recent


def frame(rows: Sequence[AlertRow]) -> pd.DataFrame:
    """The inbox as a table (one row per alert, in the given order)."""
    return pd.DataFrame([{
        "state": r.state, "rule": r.rule_id,
        "scope": scope_text(r.scope), "level": r.level, "value": r.value, "amount_usd": r.amount,
        "since": r.firing_since or r.state_since, "acknowledged": r.ack_by,
        "assignee": r.assignee, "status": r.status.replace("_", " "),
    } for r in rows], columns=COLUMNS)


def silence_matchers(row: AlertRow) -> list[str]:
    """Matchers that mute exactly this alert: its rule and every scope label."""
    return [f"rule={row.rule_id}", *(f"{k}={row.scope[k]}" for k in sorted(row.scope))]


def drill_params(row: AlertRow) -> dict[str, str]:
    """The drill-down that shows the records behind an alert's scope."""
    scope = row.scope
    params: dict[str, str] = {}
    if "channel" in scope:
        params = {"dataset": "messages", "channel": scope["channel"]}
    elif "source" in scope:
        # An error-rate or collector alert is about the calls that failed; a response-time
        # alert about every call (the slow ones among them).
        params = {"dataset": "api_calls", "channel": scope["source"]}
        if "response-time" not in row.rule_id:
            params["problems"] = "true"
        if "endpoint" in scope:
            params["search"] = scope["endpoint"]
    elif "duplicate" in row.rule_id:
        params = {"dataset": "duplicates"}
    elif "mapping" in row.rule_id:
        params = {"dataset": "mappings"}
    else:
        params = {"dataset": "capture", "problems": "true"}
    if "facility" in scope:
        params["facility"] = scope["facility"]
    return params


def from_link(rows: Sequence[AlertRow], params: dict[str, str]) -> AlertRow | None:
    """The alert an e-mail link names (``?rule=nack-rate&facility=FAC01&...``): the rule
    and every scope key given must match; the newest such alert wins."""
    rule = params.get("rule", "")
    if not rule:
        return None
    scope = {k: v for k, v in params.items() if k != "rule"}
    for row in rows:
        if row.rule_id == rule and all(row.scope.get(k) == v for k, v in scope.items()
                                       if k in row.scope or k in SCOPE_KEYS):
            return row
    return None
