"""The alert inbox, shaped for display (pure): rows from ``alerting.workflow.list_alerts``
become a table, a label per alert, and the matchers a silence of it would use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from alerting.workflow import AlertRow
from app.shaping.facilities import facility_label
from rules.model import SCOPE_KEYS

ACTIVE_STATES = ("firing", "pending", "error", "nodata")
STATE_COLOUR = {"firing": "red", "pending": "orange", "error": "violet", "nodata": "gray",
                "resolved": "green", "ok": "green"}
COLUMNS = ["state", "rule", "scope", "level", "value", "amount_usd", "since", "handling"]


def scope_text(scope: dict[str, str]) -> str:
    """``facility=FAC01, channel=FAC01_CHG_OUT`` (sorted), or ``network``."""
    return ", ".join(f"{k}={scope[k]}" for k in sorted(scope)) or "network"


def scope_words(scope: dict[str, str], names: Mapping[str, str] | None = None) -> str:
    """The scope as a person reads it: the facility named as everywhere, then the other
    labels' values — ``St. Mary Regional (FAC01) · FAC01_CHG_OUT`` — or ``network``."""
    parts = [facility_label(scope["facility"], names or {})] if scope.get("facility") else []
    parts += [scope[k] for k in sorted(scope) if k != "facility"]
    return " · ".join(parts) or "network"


def handling(row: AlertRow) -> str:
    """Who has the alert in hand, in one cell: ``ack by a@x · assigned b@x · investigating``."""
    parts = [f"ack by {row.ack_by}" if row.ack_by else "",
             f"assigned {row.assignee}" if row.assignee else "",
             row.status.replace("_", " ")]
    return " · ".join(p for p in parts if p)


def label(row: AlertRow, names: Mapping[str, str] | None = None) -> str:
    """One line naming an alert in a select box."""
    return f"{row.state.upper()} · {row.rule_id} · {scope_words(row.scope, names)}"


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


def value_texts(row: AlertRow, unit: str = "") -> tuple[str, str]:
    """An alert's value and its $ as text: a $ rule's value is its money, shown once
    (``$52,553`` and no amount), as its e-mail does; a value without one is empty."""
    if unit == "USD":
        return ("" if row.value is None else f"${row.value:,.0f}"), ""
    value = "" if row.value is None else f"{row.value:,.1f}"
    return value, f"${row.amount:,.0f}" if row.amount else ""


def frame(rows: Sequence[AlertRow], names: Mapping[str, str] | None = None,
          units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The inbox as a table (one row per alert, in the given order): the scope in words,
    who handles it in one column (the table fits a 1440 px screen), value and $ as text
    (an alert without one shows an empty cell, not ``None``; a $ rule's money once)."""
    out = []
    for r in rows:
        value, amount = value_texts(r, (units or {}).get(r.rule_id, ""))
        out.append({"state": r.state, "rule": r.rule_id,
                    "scope": scope_words(r.scope, names), "level": r.level,
                    "value": value, "amount_usd": amount,
                    "since": r.firing_since or r.state_since, "handling": handling(r)})
    return pd.DataFrame(out, columns=COLUMNS)


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
