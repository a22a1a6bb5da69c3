"""The steward's exception queue in SQL: failed mappings, duplicates, missing and late
charges, inventory, paged, filtered and sorted by $ or by age (no Streamlit here). Status
changes go through ``metrics.compute.exceptions.set_status`` and are written to the dashboard's
audit log. The queues, their filters and sorts are ``app.shaping.exceptions``.

A row names what to act on: a duplicate group names its extra charge(s) — the ones to
credit — not the original it repeats. Each row carries its date of service (the scan
behind it; for a failed mapping, its oldest scan), so a row's age is the problem's age,
not when the queue first saw it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select, text

from app.data.users import audit
from app.shaping.exceptions import QUEUES, QueueFilters
from metrics.compute.exceptions import MAPPED_WHERE, set_status
from store.schema_metrics import metric_duplicates, metric_exceptions, metric_usage_facts

USAGE_KINDS = ("missing_charge", "late_charge", "missing_inventory_issue", "quantity_mismatch")
COLUMNS = ("exception_id", "kind", "facility_id", "subject", "charge_ids", "amount",
           "service_at", "status", "assignee", "detail", "first_seen", "usage_ids")
e = metric_exceptions.c
uf = metric_usage_facts.c
md = metric_duplicates.c


def service_at() -> ColumnElement:
    """When the scan behind a row happened: its usage (a usage-level row), the usage the
    duplicate charged (else the extra's posting), the oldest usage of a failed mapping.
    Primary-key or index look-ups per row."""
    of_usage = select(uf.used_at).where(uf.usage_id == e.subject).scalar_subquery()
    of_duplicate = func.coalesce(
        select(uf.used_at).where(uf.usage_id == e.usage_ids).scalar_subquery(),
        select(func.min(md.posted_at)).where(md.dup_of == e.subject).scalar_subquery())
    # The literal predicate lets SQLite use the partial index of failed mappings (a bound
    # `!= ?` would not match it): without it every row scanned the million facts.
    # SQLite would take the (facility, time) index, a scan of the facility's every fact
    # for each row; the literal predicate and an unindexable facility term leave it the
    # partial index of failed mappings (a bound `!= ?` would not match that index).
    of_mapping = select(func.min(uf.used_at)).where(
        text(MAPPED_WHERE), uf.mapping_reason == e.kind, uf.mapping_subject == e.subject,
        func.coalesce(uf.facility_id, "") == e.facility_id).scalar_subquery()
    return case((e.kind.in_(USAGE_KINDS), of_usage),
                (e.kind == "duplicate_charge", of_duplicate), else_=of_mapping)


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
    """One page (1-based) of matching exceptions, biggest $ first or oldest first."""
    served = service_at().label("service_at")
    cols = [served if c == "service_at" else e[c] for c in COLUMNS]
    offset = max(0, number - 1) * size
    if f.sort == "age":  # every matching row's date of service, to sort by it
        rows = conn.execute(select(*cols).where(*_where(f))
                            .order_by(served.asc(), e.amount.desc(), e.exception_id)
                            .limit(size).offset(offset)).mappings()
        return [dict(r) for r in rows]
    # By $: pick the page's rows first, then look up the date of service of those alone
    # (SQLite would compute it for every row it sorts).
    ids = select(e.exception_id, e.amount).where(*_where(f)).order_by(
        e.amount.desc(), e.exception_id).limit(size).offset(offset).subquery("page_ids")
    rows = conn.execute(select(*cols).select_from(metric_exceptions.join(
        ids, ids.c.exception_id == e.exception_id)).order_by(
        ids.c.amount.desc(), ids.c.exception_id)).mappings()
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
