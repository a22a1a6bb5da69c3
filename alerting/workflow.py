"""The steward workflow, for the CLI and the dashboard alike.

Dashboard engineer: call these with an engine and the signed-in user as ``actor``.

    list_alerts(engine, states=("firing",), owner="revenue-cycle") -> list[AlertRow]
    acknowledge(engine, fingerprint, actor, comment="", now=None)
    unacknowledge(engine, fingerprint, actor, comment="", now=None)
    assign(engine, fingerprint, assignee, actor, comment="", now=None)
    set_status(engine, fingerprint, status, actor, comment="", now=None)  # STATUSES
    history(engine, fingerprint) -> list[HistoryEntry]   # state changes and actions, by time
    add_silence(engine, ["rule=nack-rate", "facility=FAC01"], ends_at, author, comment)
    list_silences(engine, now, include_expired=False) / expire_silence(engine, id, actor, now)
    outbox_rows(engine, statuses=("dead",))              # undeliverable e-mails
    retry_dead(engine, actor, row_ids=())                 # queue dead e-mails again
    evaluations(engine, limit=20)                         # the latest evaluation passes

The alert page link in e-mails is ``<dashboard>/alerts?rule=<rule id>&<scope key>=<value>``
(e.g. ``?rule=nack-rate&facility=FAC01&channel=FAC01_CHG_OUT``); the records link is the
drill-down page's own parameters (``app.shaping.drill.from_query_params``).

Every change writes ``alert_actions`` (who, when, what, comment) in the same transaction
as the instance's current workflow columns. Unknown fingerprints raise ``AlertNotFound``.
The statements live in ``alerting.data``; this module owns the checks and the transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from alerting.data import history as stored_history
from alerting.data import instances, passes, silences
from alerting.data import outbox as queue
from alerting.policy import Matcher
from core.errors import ChargelineError

STATUSES = ("investigating", "fixed", "expected", "false_positive")


class AlertNotFound(ChargelineError):
    """No alert instance has this fingerprint (``chargeline alerts list`` shows them)."""


@dataclass(frozen=True)
class AlertRow:
    fingerprint: str
    rule_id: str
    owner: str
    scope: dict[str, str]
    state: str
    level: str
    value: float | None
    amount: float | None
    firing_since: datetime | None
    state_since: datetime
    error: str
    ack_by: str
    assignee: str
    status: str
    status_comment: str


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str  # "state" or the action name
    what: str
    actor: str
    comment: str


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def list_alerts(engine: Engine, *, states: Sequence[str] = (), owner: str = "",
                rule_id: str = "") -> list[AlertRow]:
    """Alert instances, newest state change first, optionally filtered."""
    with engine.connect() as conn:
        rows = instances.select_alerts(conn, states, owner, rule_id)
    return [AlertRow(r["fingerprint"], r["rule_id"], r["owner"], json.loads(r["scope_json"]),
                     r["state"], r["level"], r["value"], r["amount"], r["firing_since"],
                     r["state_since"], r["error"], r["ack_by"], r["assignee"], r["status"],
                     r["status_comment"]) for r in rows]


def _change(engine: Engine, fingerprint: str, action: str, value: str, actor: str,
            comment: str, now: datetime, columns: dict[str, Any]) -> None:
    if not actor.strip():
        raise ChargelineError("say who you are: --by you@example.org")
    with engine.begin() as conn:
        if not instances.set_workflow(conn, fingerprint, columns):
            raise AlertNotFound(f"no alert {fingerprint!r} — copy a fingerprint from "
                                "`chargeline alerts list`")
        stored_history.record_action(conn, fingerprint, action, value, comment, actor, now)


def acknowledge(engine: Engine, fingerprint: str, actor: str, comment: str = "",
                now: datetime | None = None) -> None:
    """Someone is on it: repeats stop for this incident; the resolve notice still comes."""
    at = _now(now)
    _change(engine, fingerprint, "ack", actor, actor, comment, at,
            {"ack_by": actor, "ack_at": at})


def unacknowledge(engine: Engine, fingerprint: str, actor: str, comment: str = "",
                  now: datetime | None = None) -> None:
    _change(engine, fingerprint, "unack", "", actor, comment, _now(now),
            {"ack_by": "", "ack_at": None})


def assign(engine: Engine, fingerprint: str, assignee: str, actor: str, comment: str = "",
           now: datetime | None = None) -> None:
    """Give the alert to a steward (an e-mail or a name); empty unassigns."""
    _change(engine, fingerprint, "assign", assignee, actor, comment, _now(now),
            {"assignee": assignee})


def set_status(engine: Engine, fingerprint: str, status: str, actor: str, comment: str = "",
               now: datetime | None = None) -> None:
    """investigating, fixed, expected or false_positive, with a comment saying why."""
    status = status.replace(" ", "_").replace("-", "_")
    if status not in STATUSES:
        raise ChargelineError(f"status {status!r} is not one of {', '.join(STATUSES)} — "
                              "e.g. --status investigating")
    at = _now(now)
    columns: dict[str, Any] = {"status": status, "status_comment": comment}
    if status in ("expected", "false_positive"):
        columns |= {"ack_by": actor, "ack_at": at}  # no point repeating what is explained
    _change(engine, fingerprint, "status", status, actor, comment, at, columns)


def history(engine: Engine, fingerprint: str) -> list[HistoryEntry]:
    """State changes and steward actions of one instance, oldest first."""
    with engine.connect() as conn:
        states = stored_history.state_changes(conn, fingerprint)
        actions = stored_history.actions_of(conn, fingerprint)
    out = [HistoryEntry(r["at"], "state", f"{r['from_state']} -> {r['to_state']}"
                        + (f" ({r['level']})" if r["level"] else ""), "chargeline",
                        r["reason"]) for r in states]
    out += [HistoryEntry(r["at"], r["action"], r["value"], r["actor"], r["comment"])
            for r in actions]
    return sorted(out, key=lambda e: e.at)


def add_silence(engine: Engine, matchers: Iterable[str], ends_at: datetime, author: str,
                comment: str, starts_at: datetime | None = None) -> int:
    """Mute alerts whose labels match every matcher, from ``starts_at`` until ``ends_at``."""
    # Checked in the order a person fixes them: what to mute, who and why, then when.
    parsed = [Matcher.parse(m) for m in matchers]
    if not parsed:
        raise ChargelineError("a silence needs at least one matcher, e.g. rule=nack-rate")
    if not author.strip() or not comment.strip():
        raise ChargelineError("a silence needs an author and a comment saying why — "
                              "e.g. --by you@example.org -m 'engine upgrade tonight'")
    start = _now(starts_at)
    if ends_at <= start:
        raise ChargelineError("the silence ends before it starts — e.g. --hours 4")
    with engine.begin() as conn:
        return silences.insert_silence(conn, [str(m) for m in parsed], start, ends_at, author,
                                       comment, _now(None))


def list_silences(engine: Engine, now: datetime | None = None,
                  include_expired: bool = False) -> list[dict[str, Any]]:
    active_at = None if include_expired else _now(now)
    with engine.connect() as conn:
        return silences.silence_rows(conn, active_at)


def expire_silence(engine: Engine, silence_id: int, actor: str,
                   now: datetime | None = None) -> None:
    """End a silence now; ``expired_by`` records who ended it early."""
    if not actor.strip():
        raise ChargelineError("say who you are: --by you@example.org")
    at = _now(now)
    with engine.begin() as conn:
        ended = silences.end_silence(conn, silence_id, at, actor)
    if not ended:
        raise ChargelineError(f"no active silence {silence_id} — see `chargeline alerts "
                              "silences`")


def outbox_rows(engine: Engine, statuses: Sequence[str] = ("pending", "dead")) -> list[dict]:
    """Outbox rows by status (the dashboard shows dead ones: they need a human)."""
    with engine.connect() as conn:
        return queue.rows_by_status(conn, statuses)


def retry_dead(engine: Engine, actor: str, row_ids: Sequence[int] = (),
               now: datetime | None = None) -> int:
    """Queue dead e-mails again (all, or ``row_ids``), e.g. after fixing an address."""
    if not actor.strip():
        raise ChargelineError("say who you are: --by you@example.org")
    at = _now(now)
    with engine.begin() as conn:
        return queue.requeue_dead(conn, row_ids, at,
                                  f"requeued by {actor} at {at:%Y-%m-%d %H:%M} UTC; was: ")


def evaluations(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest evaluation passes, newest first (when rules last ran, and what failed)."""
    with engine.connect() as conn:
        return passes.recent_passes(conn, limit)
