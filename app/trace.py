"""The transaction trace: every hop of one usage event (scan -> engine -> billing -> ERP ->
replenishment) with its time and status, and where the chain stopped.

``find_usages`` resolves any key a person may paste — usage id, encounter id, charge id or
HL7 control id — through indexed lookups only; ``hops`` reads the records of one usage;
``stopped_at`` (pure) says where it stopped and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, union

from store.schema import (
    charges,
    interface_messages,
    inventory_transactions,
    message_usages,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_duplicates, metric_links, metric_usage_facts

MAX_USAGES = 25
LANES = ("EHR scan", "Engine received", "Engine sent", "Billing charge", "ERP issue",
         "Replenishment")


@dataclass(frozen=True)
class Hop:
    """One step of a transaction: which lane, when, its status and a short detail."""

    lane: str
    at: datetime | None
    status: str  # ok | late | error | queued | duplicate | credit | missing | pending
    key: str
    detail: str


def find_usages(conn: Connection, key: str) -> list[str]:
    """Usage ids a usage, encounter, charge or control id points to (at most 25)."""
    key = key.strip()
    if not key:
        return []
    u, c, m, mu, ml = usage_events, charges, interface_messages, message_usages, metric_links
    by_control = select(mu.c.usage_id).join(
        m, (m.c.channel == mu.c.channel) & (m.c.control_id == mu.c.control_id)
    ).where(m.c.control_id == key)
    parts = union(
        select(u.c.usage_id).where(u.c.usage_id == key),
        select(u.c.usage_id).where(u.c.encounter_id == key),
        select(c.c.usage_id).where(c.c.charge_id == key, c.c.usage_id != ""),
        select(ml.c.usage_id).where(ml.c.target_id == key),
        by_control,
        select(c.c.usage_id).where(c.c.control_id == key, c.c.usage_id != ""),
    ).subquery()
    rows = conn.execute(select(parts.c.usage_id).order_by(parts.c.usage_id).limit(MAX_USAGES))
    return [r[0] for r in rows]


def _facts(conn: Connection, usage_id: str) -> dict[str, Any]:
    f = metric_usage_facts.c
    row = conn.execute(select(f.capture, f.inventory, f.mapping_reason, f.mapping_subject,
                              f.sla_s, f.item_id).where(f.usage_id == usage_id)).mappings().first()
    return dict(row) if row else {}


def hops(conn: Connection, usage_id: str) -> tuple[dict[str, Any], list[Hop]]:
    """The usage record (no patient token) with its facts, and its hops in time order."""
    u = usage_events.c
    usage = conn.execute(select(u.usage_id, u.facility_id, u.location_id, u.encounter_id,
                                u.item_ref, u.quantity, u.uom, u.serial, u.used_at)
                         .where(u.usage_id == usage_id)).mappings().first()
    if usage is None:
        return {}, []
    info = {**usage, **_facts(conn, usage_id)}
    out = [Hop("EHR scan", usage["used_at"], "ok", usage_id,
               f"{usage['item_ref']} × {float(usage['quantity']):g} at {usage['location_id']}")]
    out += _message_hops(conn, usage_id)
    out += _charge_hops(conn, usage_id)
    issues = _issue_hops(conn, usage_id)
    out += issues
    out += _replenishment_hops(conn, usage, issues)
    return info, sorted(out, key=lambda h: (h.at is None, h.at or usage["used_at"]))


def _message_hops(conn: Connection, usage_id: str) -> list[Hop]:
    m, mu = interface_messages.c, message_usages.c
    rows = conn.execute(select(m.channel, m.control_id, m.status, m.ack_code, m.received_at,
                               m.sent_at, m.error)
                        .join(message_usages, (mu.channel == m.channel)
                              & (mu.control_id == m.control_id))
                        .where(mu.usage_id == usage_id).order_by(m.received_at)).mappings()
    out = []
    for r in rows:
        out.append(Hop("Engine received", r["received_at"], "ok", r["control_id"],
                       f"{r['channel']} status {r['status']}"))
        if r["status"] == "E" or r["ack_code"] in ("AE", "AR"):
            out.append(Hop("Engine sent", r["sent_at"] or r["received_at"], "error",
                           r["control_id"], f"NACK {r['ack_code'] or ''} {r['error']}".strip()))
        elif r["status"] == "Q":
            out.append(Hop("Engine sent", r["received_at"], "queued", r["control_id"],
                           "queued, not yet delivered"))
        elif r["sent_at"] is not None:
            out.append(Hop("Engine sent", r["sent_at"], "ok", r["control_id"],
                           f"ACK {r['ack_code'] or ''}".strip()))
    return out


def _charge_hops(conn: Connection, usage_id: str) -> list[Hop]:
    c, ml, d = charges.c, metric_links.c, metric_duplicates.c
    linked = union(select(c.charge_id).where(c.usage_id == usage_id),
                   select(ml.target_id).where(ml.usage_id == usage_id, ml.hop == "charge"))
    ids = [r[0] for r in conn.execute(linked)]
    if not ids:
        return []
    dups = dict(conn.execute(select(d.charge_id, d.dup_of).where(d.charge_id.in_(ids))).all())
    rows = conn.execute(select(c.charge_id, c.posted_at, c.status, c.amount, c.cdm_code,
                               c.reverses_charge_id).where(c.charge_id.in_(ids))).mappings()
    out = []
    for r in rows:
        status = ("duplicate" if r["charge_id"] in dups else
                  "credit" if r["status"] == "credit" else "ok")
        detail = f"{r['cdm_code']} ${float(r['amount']):,.2f} {r['status']}"
        if r["charge_id"] in dups:
            detail += f" — repeats {dups[r['charge_id']]}"
        out.append(Hop("Billing charge", r["posted_at"], status, r["charge_id"], detail))
    return out


def _issue_hops(conn: Connection, usage_id: str) -> list[Hop]:
    t, ml = inventory_transactions.c, metric_links.c
    linked = union(select(t.document_id).where(t.usage_id == usage_id),
                   select(ml.target_id).where(ml.usage_id == usage_id, ml.hop == "inventory"))
    ids = [r[0] for r in conn.execute(linked)]
    if not ids:
        return []
    rows = conn.execute(select(t.document_id, t.posted_at, t.txn_type, t.quantity, t.uom,
                               t.location_id, t.item_id)
                        .where(t.document_id.in_(ids))).mappings()
    return [Hop("ERP issue", r["posted_at"], "ok", r["document_id"],
                f"{r['txn_type']} {float(r['quantity']):g} {r['uom']} {r['item_id']}")
            for r in rows]


def _replenishment_hops(conn: Connection, usage: Any, issues: list[Hop]) -> list[Hop]:
    """The first requisition for the same spot within a week after the issue."""
    if not issues or issues[0].at is None:
        return []
    r = replenishment_documents.c
    after = issues[0].at
    row = conn.execute(select(r.document_id, r.created_at, r.received_at, r.status)
                       .where(r.facility_id == usage["facility_id"],
                              r.location_id == usage["location_id"],
                              r.item_id == usage["item_ref"], r.created_at >= after,
                              r.created_at < after + timedelta(days=7))
                       .order_by(r.created_at).limit(1)).mappings().first()
    if row is None:
        return []
    return [Hop("Replenishment", row["created_at"], "ok", row["document_id"],
                f"requisition {row['status']}" + (
                    f", received {row['received_at']:%d %b %H:%M}" if row["received_at"] else ""))]


BLOCKING_REASONS = ("unknown_item", "no_crosswalk", "unit_not_convertible")


def stopped_at(info: dict[str, Any], trail: list[Hop]) -> tuple[str, str]:
    """Where the chain stopped (a lane, or ``complete``) and why, in words. A mapping
    that blocks charging stops it at the scan; a CDM line without HCPCS does not stop the
    charge, so it is only noted."""
    lanes = {h.lane for h in trail}
    reason = info.get("mapping_reason") or ""
    subject = info.get("mapping_subject", "")
    if reason in BLOCKING_REASONS:
        return "EHR scan", f"failed mapping: {reason.replace('_', ' ')} ({subject})"
    note = f" (and CDM {subject} has no HCPCS)" if reason == "cdm_without_hcpcs" else ""
    sent = [h for h in trail if h.lane == "Engine sent"]
    capture = info.get("capture", "")
    if "Engine received" not in lanes and capture not in ("on_time", "late"):
        return "Engine received", "the engine never received a message for this scan" + note
    if sent and all(h.status != "ok" for h in sent):
        return "Engine sent", "the engine could not deliver it: " + sent[-1].detail + note
    if capture == "missing":
        return "Billing charge", "no charge posted within the SLA" + note
    if capture == "pending":
        return "Billing charge", "charge not posted yet (still inside the SLA)" + note
    inventory = info.get("inventory", "")
    if inventory == "missing":
        return "ERP issue", "no inventory issue posted within the SLA" + note
    if inventory == "pending":
        return "ERP issue", "inventory issue not posted yet (still inside the SLA)" + note
    late = " (charge was late)" if capture == "late" else ""
    return "complete", "every hop arrived" + late + note
