"""The exception queue: one row per open problem, kept across recomputes.

One row per thing a steward fixes: a scanned reference not in the item master
(``unknown_item``, per reference), a unit that does not convert (``unit_not_convertible``,
per item and unit), a chargeable item without a crosswalk (``no_crosswalk``, per item), a
CDM line without HCPCS or revenue code (``cdm_without_hcpcs``, per CDM code), each per
facility; a missing or late charge, a missing inventory issue or a quantity mismatch (per
usage event); a duplicate charge group (per original charge). The id is
``kind:facility:subject``.

A steward's status survives a recompute. A problem no longer found is resolved
automatically unless the steward marked it ``expected`` or ``false_positive``; one that
comes back is reopened.

Incremental passes touch the rows of the dirty encounters only: their usage- and
charge-level rows, and the failed-mapping rows their usages name before or after the
pass (``note_mapping_subjects``), each regrouped over all its usages. A pass that rebuilt
the item dimension (master data changed) regroups every failed mapping: a CDM line can
change the suggested fix of an item no usage of the pass names. So ``last_seen`` is the
last pass that recomputed the row's evidence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
    update,
)

from metrics.compute.pass_tables import pass_mapping_subjects, pass_problems
from metrics.compute.points import expected_usd, supply_cost_usd
from metrics.compute.stitching import in_scope
from store.schema_metrics import (
    metric_duplicates,
    metric_exceptions,
    metric_usage_facts,
    metric_work_items,
)
from store.sqlfn import id_list, round_money
from store.types import UtcDateTime
from store.upsert import dialect_insert

STEWARD_STATUSES = ("open", "acknowledged", "investigating", "fixed", "expected",
                    "false_positive", "resolved")
KEEP_WHEN_GONE = ("expected", "false_positive", "resolved")
MAPPING_KINDS = ("unknown_item", "unit_not_convertible", "no_crosswalk", "cdm_without_hcpcs")
USAGE_KINDS = ("missing_charge", "late_charge", "missing_inventory_issue", "quantity_mismatch")
EXCEPTION_KINDS = (*MAPPING_KINDS, *USAGE_KINDS, "duplicate_charge")
MAPPED_WHERE = "metric_usage_facts.mapping_reason != ''"  # the partial index's predicate
_COLS = ("kind", "facility_id", "subject", "encounter_id", "usage_ids", "charge_ids",
         "usage_count", "amount", "detail")


def note_mapping_subjects(conn: Connection) -> None:
    """Add the failed mappings the dirty encounters' facts name to the rows this
    incremental pass regroups: call it before their facts are rebuilt and after."""
    f, ms = metric_usage_facts, pass_mapping_subjects
    rows = select(_exception_id(f.c.mapping_reason, f.c.facility_id, f.c.mapping_subject),
                  f.c.mapping_reason, f.c.facility_id, f.c.mapping_subject).where(
        text(MAPPED_WHERE), in_scope(f.c.encounter_id, False))
    stmt = dialect_insert(conn, ms).from_select(
        ["exception_id", "kind", "facility_id", "subject"], rows)
    conn.execute(stmt.on_conflict_do_nothing())


def _mapping_problems(every: bool) -> Select:
    """The failed-mapping rows, each grouped over all its usages: every one, or those
    ``note_mapping_subjects`` noted (a range of the partial mapping index each)."""
    f, d, ms = metric_usage_facts, metric_work_items, pass_mapping_subjects
    suggestion = case((d.c.suggested_cdm.is_not(None), "suggested CDM " + d.c.suggested_cdm),
                      else_="")
    return select(
        f.c.mapping_reason, f.c.facility_id, f.c.mapping_subject, literal(""),
        id_list(f.c.usage_id), literal(""), func.count(), func.sum(expected_usd()),
        func.coalesce(func.min(suggestion), ""),
    ).select_from(f.outerjoin(d, and_(f.c.mapping_reason == "no_crosswalk",
                                      d.c.ref == f.c.mapping_subject))).where(
        text(MAPPED_WHERE),
        true() if every else tuple_(f.c.mapping_reason, f.c.facility_id, f.c.mapping_subject)
        .in_(select(ms.c.kind, ms.c.facility_id, ms.c.subject)),
    ).group_by(f.c.mapping_reason, f.c.facility_id, f.c.mapping_subject)


def _usage_problems(full: bool) -> Select:
    """Per usage: a missing or late charge, a missing issue, a quantity mismatch. The
    facts in scope with any of them are read once (a CTE both databases materialise),
    then split by kind: a fact may hold two problems."""
    f = metric_usage_facts
    missing, late = f.c.capture == "missing", f.c.capture == "late"
    no_issue = f.c.inventory == "missing"
    facts = select(
        f.c.facility_id, f.c.usage_id, f.c.encounter_id, f.c.capture, f.c.inventory,
        f.c.qty_mismatch, expected_usd().label("expected"), supply_cost_usd().label("supply"),
    ).where(or_(missing, late, no_issue, f.c.qty_mismatch),
            in_scope(f.c.encounter_id, full)).cte("usage_problem_facts")
    parts = [
        (facts.c.capture == "missing", "missing_charge", facts.c.expected),
        (facts.c.capture == "late", "late_charge", facts.c.expected),
        (facts.c.inventory == "missing", "missing_inventory_issue", facts.c.supply),
        (facts.c.qty_mismatch, "quantity_mismatch", facts.c.supply),
    ]
    return union_all(*(
        select(literal(kind), facts.c.facility_id, facts.c.usage_id, facts.c.encounter_id,
               facts.c.usage_id, literal(""), literal(1), amount, literal("")).where(cond)
        for cond, kind, amount in parts
    ))


def _duplicate_problems(full: bool) -> Select:
    md = metric_duplicates
    return select(
        literal("duplicate_charge"), func.min(md.c.facility_id), md.c.dup_of,
        func.min(md.c.encounter_id), func.min(md.c.usage_id), id_list(md.c.charge_id),
        func.count(), func.sum(md.c.amount), "same " + func.min(md.c.dup_key),
    ).where(in_scope(md.c.encounter_id, full)).group_by(md.c.dup_of)


def _exception_id(kind: ColumnElement[str], facility: ColumnElement[str],
                  subject: ColumnElement[str]) -> ColumnElement[str]:
    return kind + ":" + facility + ":" + subject


def _collect(conn: Connection, problems: Select) -> None:
    """Replace ``pass_problems`` by these problems as exception rows (id, money to cents):
    found once, then both merged into the queue and used to resolve the rest."""
    pp = pass_problems
    p = problems.subquery("problems")
    c = list(p.c)
    conn.execute(delete(pp))
    conn.execute(insert(pp).from_select(["exception_id", *_COLS], select(
        _exception_id(c[0], c[1], c[2]), *c[:7], round_money(c[7]), c[8])))


def _upsert(conn: Connection, now: datetime) -> None:
    """Insert the problems new to the queue; refresh the rest (a resolved one reopens)."""
    pp, e = pass_problems, metric_exceptions
    rows = select(pp.c.exception_id, *(pp.c[name] for name in _COLS),
                  literal(now, UtcDateTime()), literal(now, UtcDateTime()), literal("open"),
                  ).where(true())
    stmt = dialect_insert(conn, e).from_select(
        ["exception_id", *_COLS, "first_seen", "last_seen", "status"], rows)
    stmt = stmt.on_conflict_do_update(index_elements=["exception_id"], set_={
        "amount": stmt.excluded.amount,
        "usage_ids": stmt.excluded.usage_ids,
        "charge_ids": stmt.excluded.charge_ids,
        "usage_count": stmt.excluded.usage_count,
        "detail": stmt.excluded.detail,
        "encounter_id": stmt.excluded.encounter_id,
        "last_seen": stmt.excluded.last_seen,
        "status": case((e.c.status == "resolved", "open"), else_=e.c.status),
        "status_changed_at": case((e.c.status == "resolved", stmt.excluded.last_seen),
                                  else_=e.c.status_changed_at),
        "auto_resolved": False,
    })
    conn.execute(stmt)


def _resolve_gone(conn: Connection, scope: ColumnElement[bool], now: datetime) -> None:
    """Resolve the queue's rows in ``scope`` that are not among the problems found now."""
    e = metric_exceptions
    still = select(pass_problems.c.exception_id)
    conn.execute(update(e).where(
        scope, e.c.status.not_in(KEEP_WHEN_GONE), e.c.exception_id.not_in(still),
    ).values(status="resolved", auto_resolved=True, status_changed_at=now))


def sync_exceptions(conn: Connection, now: datetime, full: bool, *,
                    every_mapping: bool = False) -> None:
    """Upsert the problems found now and resolve those that are gone: all of them on a
    full pass; else those of the dirty encounters, and every failed mapping when
    ``every_mapping`` (else those ``note_mapping_subjects`` noted)."""
    e = metric_exceptions
    every = full or every_mapping
    noted = select(pass_mapping_subjects.c.exception_id)
    groups = (
        (_mapping_problems(every), and_(e.c.kind.in_(MAPPING_KINDS),
                                        true() if every else e.c.exception_id.in_(noted))),
        (_usage_problems(full), and_(e.c.kind.in_(USAGE_KINDS),
                                     in_scope(e.c.encounter_id, full, indexed=False))),
        (_duplicate_problems(full), and_(e.c.kind == "duplicate_charge",
                                         in_scope(e.c.encounter_id, full, indexed=False))),
    )
    for problems, scope in groups:
        _collect(conn, problems)
        _upsert(conn, now)
        _resolve_gone(conn, scope, now)


def set_status(conn: Connection, exception_id: str, status: str, *, assignee: str = "",
               now: datetime) -> bool:
    """A steward's status change; return False when the exception does not exist."""
    if status not in STEWARD_STATUSES:
        raise ValueError(f"status {status!r} unknown; use one of {', '.join(STEWARD_STATUSES)}")
    values: dict[str, object] = {"status": status, "status_changed_at": now,
                                 "auto_resolved": False}
    if assignee:
        values["assignee"] = assignee
    done = conn.execute(update(metric_exceptions).where(
        metric_exceptions.c.exception_id == exception_id).values(**values))
    return bool(done.rowcount)


def open_filter() -> ColumnElement[bool]:
    """Rows a steward still has to look at."""
    return or_(metric_exceptions.c.status.not_in(("resolved", "fixed", "expected",
                                                   "false_positive")))
