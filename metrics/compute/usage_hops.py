"""Per-usage summaries of the hops after a scan: messages, charges, inventory transactions.

Each fills one pass table (``metrics.compute.pass_tables``) with one row per usage, so the facts
stage joins them by key. A full pass summarises every usage; an incremental one only the
usages of the mapping stage (the dirty encounters').

A summary is a few aggregates (min, max, sum) of per-row values by usage. PostgreSQL
computes them with ``GROUP BY`` (a hash aggregate). SQLite would sort every row to group
them; instead each row is merged into the usage's row of the keyed pass table as it comes
(``INSERT ... ON CONFLICT DO UPDATE`` with the same min / max / sum, NULLs ignored as the
aggregates ignore them): one index step per row, in whatever order the join yields them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from metrics.compute.pass_tables import pass_charges, pass_issues, pass_messages, pass_usages
from store.schema import interface_messages, inventory_transactions, item_uoms, message_usages
from store.schema_metrics import (
    metric_charge_facts,
    metric_duplicates,
    metric_links,
    metric_work_items,
)
from store.sqlfn import in_rows

Combine = Callable[[ColumnElement, ColumnElement], ColumnElement]
_AGGREGATE = {"min": func.min, "max": func.max, "sum": func.sum}
_MERGE: dict[str, Combine] = {  # two partial aggregates into one, NULL meaning "no value"
    "min": lambda old, new: case((old.is_(None), new), (new.is_(None), old),
                                 (new < old, new), else_=old),
    "max": lambda old, new: case((old.is_(None), new), (new.is_(None), old),
                                 (new > old, new), else_=old),
    "sum": lambda old, new: case((old.is_(None), new), (new.is_(None), old),
                                 else_=old + new),
}


def in_pass(usage_id: ColumnElement[str], full: bool) -> ColumnElement[bool]:
    """``usage_id`` names a usage of this pass (any usage when ``full``)."""
    if full:
        return usage_id != ""
    return in_rows(usage_id, select(pass_usages.c.usage_id))


def _summarise(conn: Connection, table: Table, rows: Select, kinds: dict[str, str]) -> None:
    """Fill ``table`` with, per usage, the aggregate ``kinds[column]`` of each column of
    ``rows`` (``usage_id`` and one value per column)."""
    r = rows.subquery("hop_rows")
    columns = ["usage_id", *kinds]
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table).from_select(columns, select(
            r.c.usage_id, *(_AGGREGATE[kinds[c]](r.c[c]) for c in kinds)
        ).group_by(r.c.usage_id)))
        return
    stmt = sqlite_insert(table).from_select(columns, select(*(r.c[c] for c in columns))
                                            .where(true()))  # WHERE before ON CONFLICT
    conn.execute(stmt.on_conflict_do_update(index_elements=["usage_id"], set_={
        c: _MERGE[kinds[c]](table.c[c], stmt.excluded[c]) for c in kinds}))


def summarise_messages(conn: Connection, full: bool) -> None:
    """First received and first accepted (sent) times, and the channel, per usage."""
    mu, m = message_usages, interface_messages
    accepted = or_(m.c.ack_code.is_(None), m.c.ack_code == "AA")
    rows = select(
        mu.c.usage_id, m.c.received_at.label("received_at"),
        case((accepted, m.c.sent_at), else_=null()).label("sent_at"),
        m.c.channel.label("channel"),
    ).select_from(mu.join(m, and_(m.c.channel == mu.c.channel,
                                  m.c.control_id == mu.c.control_id,
                                  m.c.facility_id == mu.c.facility_id)))
    if not full:
        rows = rows.where(in_pass(mu.c.usage_id, full))
    _summarise(conn, pass_messages, rows,
               {"received_at": "min", "sent_at": "min", "channel": "min"})


def summarise_charges(conn: Connection, full: bool) -> None:
    """First charge posted (credits and voided excluded), whether one survives, and the
    charged quantity and billed $ of the surviving charges that are not extras."""
    cf, md = metric_charge_facts, metric_duplicates
    billed = and_(cf.c.surviving, md.c.charge_id.is_(None))
    # A serial-key extra is the only charge of its own (second) scan: its quantity is
    # what that scan was charged; the overbilling shows in the duplicate metrics.
    counted = and_(cf.c.surviving, or_(md.c.charge_id.is_(None), md.c.dup_key == "serial"))
    rows = select(
        cf.c.usage_id,
        case((cf.c.kind == "charge", cf.c.posted_at), else_=null()).label("first"),
        case((cf.c.surviving, 1), else_=0).label("survives"),
        case((counted, cf.c.quantity), else_=0.0).label("qty"),
        case((billed, cf.c.amount), else_=0.0).label("billed"),
    ).select_from(cf.outerjoin(md, md.c.charge_id == cf.c.charge_id)).where(
        in_pass(cf.c.usage_id, full))
    _summarise(conn, pass_charges, rows,
               {"first": "min", "survives": "max", "qty": "sum", "billed": "sum"})


def summarise_issues(conn: Connection, full: bool) -> None:
    """First ISSUE (when the stock moved, else when it was posted) and net issued base
    quantity (ISSUE minus RETURN) per usage, over the transactions naming the usage and
    those linked to it."""
    t, ml, d = inventory_transactions, metric_links, metric_work_items
    # the stock-movement time where the ERP records one apart from its posting time
    moved = func.coalesce(t.c.moved_at, t.c.posted_at).label("posted_at")
    fields = (t.c.txn_type, moved, t.c.quantity, t.c.uom, t.c.item_id)
    direct = select(t.c.usage_id, literal("usage_id").label("method"), *fields).where(
        in_pass(t.c.usage_id, full))
    linked = select(ml.c.usage_id, ml.c.method, *fields).select_from(
        ml.join(t, t.c.document_id == ml.c.target_id)).where(
        ml.c.hop == "inventory", in_pass(ml.c.usage_id, full))
    both = union_all(direct, linked).subquery("both_links")
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == both.c.item_id, item_uoms.c.uom == both.c.uom).scalar_subquery()
    factor = case((both.c.uom == d.c.uom, 1.0), else_=conversion)
    signed = case((both.c.txn_type == "ISSUE", 1.0), (both.c.txn_type == "RETURN", -1.0),
                  else_=0.0)
    rows = select(
        both.c.usage_id,
        case((both.c.txn_type == "ISSUE", both.c.posted_at), else_=null()).label("at"),
        (signed * func.abs(cast(both.c.quantity, Float)) * factor).label("qty"),
        both.c.method.label("method"),
    ).select_from(both.outerjoin(d, d.c.ref == both.c.item_id))
    _summarise(conn, pass_issues, rows, {"at": "min", "qty": "sum", "method": "min"})
