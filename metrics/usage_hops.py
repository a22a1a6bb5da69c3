"""Per-usage summaries of the hops after a scan: messages, charges, inventory transactions.

Each fills one pass table (``metrics.pass_tables``) with one row per usage, so the facts
stage joins them by key. A full pass summarises every usage; an incremental one only the
usages of the mapping stage (the dirty encounters').
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)

from metrics.pass_tables import pass_charges, pass_issues, pass_messages, pass_usages
from metrics.sqlfn import in_rows
from store.schema import interface_messages, inventory_transactions, item_uoms, message_usages
from store.schema_metrics import (
    metric_charge_facts,
    metric_duplicates,
    metric_links,
    metric_work_items,
)


def in_pass(usage_id: ColumnElement[str], full: bool) -> ColumnElement[bool]:
    """``usage_id`` names a usage of this pass (any usage when ``full``)."""
    if full:
        return usage_id != ""
    return in_rows(usage_id, select(pass_usages.c.usage_id))


def summarise_messages(conn: Connection, full: bool) -> None:
    """First received and first accepted (sent) times, and the channel, per usage."""
    mu, m = message_usages, interface_messages
    accepted = or_(m.c.ack_code.is_(None), m.c.ack_code == "AA")
    q = select(
        mu.c.usage_id,
        func.min(m.c.received_at),
        func.min(case((accepted, m.c.sent_at), else_=null())),
        func.min(m.c.channel),
    ).select_from(mu.join(m, and_(m.c.channel == mu.c.channel,
                                  m.c.control_id == mu.c.control_id)))
    if not full:
        q = q.where(in_pass(mu.c.usage_id, full))
    conn.execute(insert(pass_messages).from_select(
        ["usage_id", "received_at", "sent_at", "channel"], q.group_by(mu.c.usage_id)))


def summarise_charges(conn: Connection, full: bool) -> None:
    """First charge posted (credits and voided excluded), whether one survives, and the
    charged quantity and billed $ of the surviving charges that are not extras."""
    cf, md = metric_charge_facts, metric_duplicates
    billed = and_(cf.c.surviving, md.c.charge_id.is_(None))
    # A serial-key extra is the only charge of its own (second) scan: its quantity is
    # what that scan was charged; the overbilling shows in the duplicate metrics.
    counted = and_(cf.c.surviving, or_(md.c.charge_id.is_(None), md.c.dup_key == "serial"))
    q = select(
        cf.c.usage_id,
        func.min(case((cf.c.kind == "charge", cf.c.posted_at), else_=null())),
        func.max(case((cf.c.surviving, 1), else_=0)),
        func.sum(case((counted, cf.c.quantity), else_=0.0)),
        func.sum(case((billed, cf.c.amount), else_=0.0)),
    ).select_from(cf.outerjoin(md, md.c.charge_id == cf.c.charge_id)).where(
        in_pass(cf.c.usage_id, full)).group_by(cf.c.usage_id)
    conn.execute(insert(pass_charges).from_select(
        ["usage_id", "first", "survives", "qty", "billed"], q))


def summarise_issues(conn: Connection, full: bool) -> None:
    """First ISSUE posted and net issued base quantity (ISSUE minus RETURN) per usage,
    over the transactions naming the usage and those linked to it."""
    t, ml, d = inventory_transactions, metric_links, metric_work_items
    fields = (t.c.txn_type, t.c.posted_at, t.c.quantity, t.c.uom, t.c.item_id)
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
    q = select(
        both.c.usage_id,
        func.min(case((both.c.txn_type == "ISSUE", both.c.posted_at), else_=null())),
        func.sum(signed * func.abs(cast(both.c.quantity, Float)) * factor),
        func.min(both.c.method),
    ).select_from(both.outerjoin(d, d.c.ref == both.c.item_id)).group_by(both.c.usage_id)
    conn.execute(insert(pass_issues).from_select(["usage_id", "at", "qty", "method"], q))
