"""The steward's exception queue in SQL: failed mappings, duplicates, missing charges and
issues, paged and filtered (no Streamlit here). Status changes go through
``metrics.exceptions.set_status`` and are written to the dashboard's audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from app.users import audit
from metrics.exceptions import set_status
from store.schema_metrics import metric_exceptions

QUEUES: dict[str, tuple[str, ...]] = {
    "Failed mappings": ("unknown_item", "no_crosswalk", "cdm_without_hcpcs",
                        "unit_not_convertible"),
    "Duplicate charges": ("duplicate_charge",),
    "Missing charges": ("missing_charge", "late_charge"),
    "Inventory": ("missing_inventory_issue", "quantity_mismatch"),
}
OPEN_STATUSES = ("open", "acknowledged", "investigating")
COLUMNS = ("exception_id", "kind", "facility_id", "subject", "amount", "status", "assignee",
           "first_seen", "last_seen", "usage_ids")
e = metric_exceptions.c


@dataclass(frozen=True)
class QueueFilters:
    """Which exceptions to list: a queue (kinds), statuses, facility, assignee."""

    queue: str = "Failed mappings"
    statuses: tuple[str, ...] = OPEN_STATUSES
    facility: str = ""
    assignee: str = ""


def _where(f: QueueFilters) -> list[ColumnElement[bool]]:
    conds = [e.kind.in_(QUEUES.get(f.queue, ()))]
    if f.statuses:
        conds.append(e.status.in_(f.statuses))
    if f.facility:
        conds.append(e.facility_id == f.facility)
    if f.assignee:
        conds.append(e.assignee == f.assignee)
    return conds


def summary(conn: Connection) -> list[dict[str, Any]]:
    """Per kind and status: how many exceptions and their $."""
    rows = conn.execute(select(e.kind, e.status, func.count().label("n"),
                               func.sum(e.amount).label("amount"))
                        .group_by(e.kind, e.status)).mappings()
    return [dict(r) for r in rows]


def count(conn: Connection, f: QueueFilters) -> int:
    """How many exceptions match."""
    return int(conn.execute(select(func.count()).select_from(metric_exceptions)
                            .where(*_where(f))).scalar_one())


def page(conn: Connection, f: QueueFilters, number: int, size: int) -> list[dict[str, Any]]:
    """One page (1-based) of matching exceptions, biggest $ first."""
    cols = [e[c] for c in COLUMNS if c in e]
    rows = conn.execute(select(*cols).where(*_where(f))
                        .order_by(e.amount.desc(), e.exception_id)
                        .limit(size).offset(max(0, number - 1) * size)).mappings()
    return [dict(r) for r in rows]


def change_status(conn: Connection, actor: str, exception_id: str, status: str,
                  assignee: str = "", comment: str = "") -> bool:
    """A steward's change to one exception, audited; False when it does not exist."""
    done = set_status(conn, exception_id, status, assignee=assignee, now=datetime.now(UTC))
    if done:
        detail = status + (f", assigned to {assignee}" if assignee else "")
        audit(conn, actor, "exception_status", target=exception_id, reason=comment,
              detail=detail)
    return done
