"""The transaction trace: for one usage, encounter, charge, claim or HL7 control id, every hop of
each usage event involved, with its time, how it was linked, and where the chain stopped.

The chain is usage -> received (engine) -> sent (ACK) -> charge posted, and in parallel
usage -> inventory issue -> replenishment; from the charge on, the money: charge -> claim
line (the line billing it) -> remittance line (the 835 line paying that claim line), as
``metrics.read.claims`` stitches them at read time. Links come from the shared keys and from
``metric_links`` (control id, fallback, reversal, serial), so the trace shows what the
metrics counted. The dashboard's Lineage page and ``chargeline trace`` call ``trace``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Subquery,
    Table,
    and_,
    null,
    select,
    union_all,
)

from metrics.read.claims import (
    claim_line_links,
    claims_billing,
    link_claim_lines,
    read_claim_lines,
    remittance_links,
)
from store.schema import (
    charges,
    claim_lines,
    claims,
    interface_messages,
    inventory_transactions,
    message_usages,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_duplicates, metric_links, metric_usage_facts

PATH = ("usage", "received", "sent", "charge")  # the charge path, in order
MONEY_PATH = ("claim_line", "remittance_line")  # after the charge, in order
REPLENISH_LOOKBACK = timedelta(days=7)  # a requisition follows an issue within this
MAX_USAGES = 200


@dataclass(frozen=True)
class Hop:
    """One record in the chain."""

    hop: str  # usage | received | sent | charge | credit | claim_line | remittance_line |
    # inventory | replenishment
    record_id: str
    at: datetime | None
    method: str = ""  # how it is tied to the usage: usage_id, control_id, fallback, ...
    status: str = ""
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """Every hop of one usage event, and where its chain stopped."""

    usage_id: str
    encounter_id: str
    facility_id: str
    hops: tuple[Hop, ...]
    stopped_at: str  # the first hop of PATH not reached ("" when charged)
    missing: tuple[str, ...]  # hops not reached (charge path and inventory)
    capture: str = ""  # the facts' verdict (on_time, late, missing, ...), "" before compute
    inventory: str = ""
    mapping: str = ""  # failed-mapping reason, if any
    # once charged: the first of MONEY_PATH not reached ("" when paid, or never charged)
    billing_stopped_at: str = ""


@dataclass(frozen=True)
class TraceResult:
    """What ``trace`` found for a key."""

    key: str
    kind: str  # usage | encounter | charge | claim | control_id | none
    traces: tuple[Trace, ...]
    unlinked: tuple[Hop, ...] = ()  # records the key names that no usage owns

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (times as ISO 8601)."""
        def conv(o: Any) -> Any:
            if isinstance(o, datetime):
                return o.isoformat()
            if isinstance(o, dict):
                return {k: conv(v) for k, v in o.items()}
            if isinstance(o, list | tuple):
                return [conv(v) for v in o]
            return o
        return conv(asdict(self))


def _resolve(conn: Connection, key: str) -> tuple[str, list[str], list[str]]:
    """(kind, usage ids, charge ids named by the key)."""
    u, c = usage_events, charges
    if conn.execute(select(u.c.usage_id).where(u.c.usage_id == key)).first():
        return "usage", [key], []
    by_enc = conn.execute(select(u.c.usage_id).where(u.c.encounter_id == key)
                          .order_by(u.c.used_at, u.c.usage_id).limit(MAX_USAGES)).scalars().all()
    if by_enc:
        return "encounter", list(by_enc), []
    row = conn.execute(select(c.c.charge_id, c.c.usage_id).where(c.c.charge_id == key)).first()
    if row:
        return "charge", _owners(conn, [key], row.usage_id), [key]
    if conn.execute(select(claims.c.claim_id).where(claims.c.claim_id == key)).first() \
            or conn.execute(select(claim_lines.c.claim_id).where(
                claim_lines.c.claim_id == key).limit(1)).first():
        return "claim", *_claimed(conn, key)
    by_msg = conn.execute(select(message_usages.c.usage_id).where(
        message_usages.c.control_id == key).distinct()).scalars().all()
    named = conn.execute(select(c.c.charge_id).where(c.c.control_id == key)).scalars().all()
    if by_msg or named:
        return "control_id", sorted(set(by_msg) | set(_owners(conn, named, ""))), list(named)
    return "none", [], []


def _claimed(conn: Connection, claim_id: str) -> tuple[list[str], list[str]]:
    """(usage ids, charge ids) behind a claim: the charges its lines bill (as
    ``metrics.read.claims`` stitches them) and their usages; a claim without lines (a FHIR
    Claim with no items) stands for its encounter's usages."""
    billed = sorted({link.charge_id for link in claim_line_links(conn, [claim_id]).values()})
    if billed:
        return _owners(conn, billed, ""), billed
    encounter = conn.execute(select(claims.c.encounter_id).where(
        claims.c.claim_id == claim_id)).scalar()
    if not encounter:
        return [], []
    u = usage_events
    return list(conn.execute(select(u.c.usage_id).where(u.c.encounter_id == encounter)
                             .order_by(u.c.used_at, u.c.usage_id).limit(MAX_USAGES))
                .scalars()), []


def _owners(conn: Connection, charge_ids: Sequence[str], carried: str) -> list[str]:
    """The usages that own these charges (by the usage id they carry, or by a link)."""
    c, u = charges, usage_events
    owners = set(conn.execute(select(metric_links.c.usage_id).where(
        metric_links.c.hop == "charge", metric_links.c.target_id.in_(charge_ids))).scalars())
    owners.update(conn.execute(select(u.c.usage_id).select_from(
        c.join(u, u.c.usage_id == c.c.usage_id)).where(c.c.charge_id.in_(charge_ids)))
        .scalars())
    if carried and conn.execute(select(u.c.usage_id).where(u.c.usage_id == carried)).first():
        owners.add(carried)
    return sorted(owners)


def _message_hops(conn: Connection, ids: Sequence[str]) -> dict[str, list[Hop]]:
    m, mu = interface_messages, message_usages
    out: dict[str, list[Hop]] = {}
    for r in conn.execute(select(mu.c.usage_id, m).select_from(mu.join(m, and_(
            m.c.channel == mu.c.channel, m.c.control_id == mu.c.control_id,
            m.c.facility_id == mu.c.facility_id)))
            .where(mu.c.usage_id.in_(ids)).order_by(m.c.received_at)):
        detail = {"facility": r.facility_id, "channel": r.channel,
                  "message_type": r.message_type}
        if r.resend_of:
            detail["resend_of"] = r.resend_of
        hops = out.setdefault(r.usage_id, [])
        hops.append(Hop("received", r.control_id, r.received_at, "usage_id", r.status, detail))
        if r.sent_at is not None:
            hops.append(Hop("sent", r.control_id, r.sent_at, "usage_id", r.ack_code or "",
                            {"facility": r.facility_id, "channel": r.channel,
                             **({"error": r.error} if r.error else {})}))
    return out


def _owned(table: Table, key: Column[str], hop: str, ids: Sequence[str]) -> Subquery:
    """Rows of ``table`` that name one of the usages ``ids`` by usage id, and rows linked to
    one of them in ``metric_links`` (with the link's usage and method), as one UNION ALL of
    two indexed selects: an OR across the outer join would keep either index from being
    used and scan the whole table."""
    ml = metric_links
    named = select(table, null().label("owner"), null().label("method")).where(
        table.c.usage_id.in_(ids))
    linked = select(table, ml.c.usage_id.label("owner"), ml.c.method).select_from(
        ml.join(table, key == ml.c.target_id)).where(
        ml.c.hop == hop, ml.c.usage_id.in_(ids), table.c.usage_id.not_in(ids))
    return union_all(named, linked).subquery("owned")


def _charge_hops(conn: Connection, ids: Sequence[str]) -> dict[str, list[Hop]]:
    md = metric_duplicates
    c = _owned(charges, charges.c.charge_id, "charge", ids)
    rows = conn.execute(select(c, md.c.dup_of, md.c.dup_key).select_from(
        c.outerjoin(md, md.c.charge_id == c.c.charge_id)).order_by(c.c.posted_at))
    out: dict[str, list[Hop]] = {}
    for r in rows:
        owner, method = (r.usage_id, "usage_id") if r.usage_id in ids else (r.owner, r.method)
        hop = "credit" if r.reverses_charge_id else "charge"
        detail = {"cdm": r.cdm_code, "quantity": f"{r.quantity:g}", "amount": f"{r.amount:.2f}",
                  "encounter": r.encounter_id}
        if r.reverses_charge_id:
            detail["reverses"] = r.reverses_charge_id
        if r.dup_of:
            detail["duplicate_of"], detail["duplicate_key"] = r.dup_of, r.dup_key
        out.setdefault(owner, []).append(Hop(hop, r.charge_id, r.posted_at, method, r.status,
                                             detail))
    return out


def _inventory_hops(conn: Connection, ids: Sequence[str]) -> dict[str, list[Hop]]:
    r = replenishment_documents
    t = _owned(inventory_transactions, inventory_transactions.c.document_id, "inventory", ids)
    out: dict[str, list[Hop]] = {}
    for row in conn.execute(select(t).order_by(t.c.posted_at)):
        owner, method = ((row.usage_id, "usage_id") if row.usage_id in ids
                         else (row.owner, row.method))
        hops = out.setdefault(owner, [])
        hops.append(Hop("inventory", row.document_id, row.posted_at, method, row.txn_type, {
            "item": row.item_id, "location": row.location_id,
            "quantity": f"{row.quantity:g} {row.uom}"}))
        if row.txn_type != "ISSUE":
            continue
        req = conn.execute(select(r).where(
            r.c.location_id == row.location_id, r.c.item_id == row.item_id,
            r.c.created_at >= row.posted_at,
            r.c.created_at <= row.posted_at + REPLENISH_LOOKBACK).order_by(
            r.c.created_at).limit(1)).first()
        if req is not None:
            hops.append(Hop("replenishment", req.document_id, req.created_at,
                            "location_item_time", req.status, {
                                "ordered_at": req.ordered_at.isoformat() if req.ordered_at
                                else "", "received_at": req.received_at.isoformat()
                                if req.received_at else ""}))
    return out


def _money_hops(conn: Connection, charge_hops: dict[str, list[Hop]],
                encounters: dict[str, str]) -> dict[str, list[Hop]]:
    """Per usage: the claim lines billing its charges and the remittance lines paying
    those claim lines (metrics.read.claims)."""
    charge_ids = {h.record_id for hops in charge_hops.values() for h in hops
                  if h.hop == "charge"}
    if not charge_ids:
        return {}
    claim_ids = claims_billing(conn, charge_ids, set(encounters.values()))
    lines = read_claim_lines(conn, claim_ids)
    links = link_claim_lines(conn, lines)
    line_of = {(x.claim_id, x.line_no): x for x in lines}
    billed: dict[str, list[tuple[str, int, str]]] = {}
    for key, link in links.items():
        billed.setdefault(link.charge_id, []).append((*key, link.method))
    paid: dict[tuple[str, int], list[Hop]] = {}
    for r in remittance_links(conn, claim_ids, lines):
        status = "denied" if r.paid_amount == 0 and r.charge_amount else "paid"
        paid.setdefault((r.claim_id, r.claim_line_no), []).append(Hop(
            "remittance_line", f"{r.remittance_id}#{r.line_no}", r.paid_at, r.method, status,
            {"claim": r.claim_id, "claim_line": str(r.claim_line_no), "clp02": r.status_code,
             "paid": f"{r.paid_amount:.2f}", "billed": f"{r.charge_amount:.2f}",
             **({"remarks": r.remark_codes} if r.remark_codes else {})}))
    out: dict[str, list[Hop]] = {}
    for owner, hops in charge_hops.items():
        for h in hops:
            for claim_id, line_no, method in billed.get(h.record_id, ()):
                line = line_of[(claim_id, line_no)]
                out.setdefault(owner, []).append(Hop(
                    "claim_line", f"{claim_id}#{line_no}", line.created_at, method, "", {
                        "claim": claim_id, "line": str(line_no), "charge": h.record_id,
                        "revenue_code": line.revenue_code,
                        "procedure": line.procedure_code, "units": f"{line.units:g}",
                        "amount": "" if line.charge_amount is None
                        else f"{line.charge_amount:.2f}"}))
                out[owner] += paid.get((claim_id, line_no), [])
    return out


def _money_stop(hops: Sequence[Hop]) -> str:
    if not any(h.hop == "charge" for h in hops):
        return ""
    reached = {h.hop for h in hops}
    return next((h for h in MONEY_PATH if h not in reached), "")


def _stop(hops: Iterable[Hop], inventory_expected: bool) -> tuple[str, tuple[str, ...]]:
    reached = {h.hop for h in hops}
    if any(h.hop == "sent" and h.status in ("AE", "AR") for h in hops) and not any(
            h.hop == "sent" and h.status in ("AA", "") for h in hops):
        reached.discard("sent")  # NACKed and never accepted: the message did not get through
    missing = [h for h in PATH if h not in reached]
    if inventory_expected and "inventory" not in reached:
        missing.append("inventory")
    stopped = next((h for h in PATH if h not in reached), "")
    return stopped, tuple(missing)


def trace(source: Engine | Connection, key: str) -> TraceResult:
    """Every hop of the usage events behind ``key`` (usage id, encounter id, charge id,
    claim id or HL7 control id), at most ``MAX_USAGES`` usages."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return trace(conn, key)
    conn = source
    key = key.strip()
    kind, ids, named = _resolve(conn, key)
    u, f = usage_events, metric_usage_facts
    usages = {r.usage_id: r for r in conn.execute(select(u).where(u.c.usage_id.in_(ids)))}
    facts = {r.usage_id: r for r in conn.execute(select(
        f.c.usage_id, f.c.capture, f.c.inventory, f.c.mapping_reason).where(
        f.c.usage_id.in_(ids)))}
    msgs, chgs, invs = (_message_hops(conn, ids), _charge_hops(conn, ids),
                        _inventory_hops(conn, ids))
    money = _money_hops(conn, chgs, {uid: r.encounter_id for uid, r in usages.items()})
    traces = []
    for uid in ids:
        row = usages[uid]
        first = Hop("usage", uid, row.used_at, "", "", {
            "item": row.item_ref, "quantity": f"{row.quantity:g} {row.uom}",
            "location": row.location_id, **({"serial": row.serial} if row.serial else {})})
        hops = [first, *msgs.get(uid, []), *chgs.get(uid, []), *money.get(uid, []),
                *invs.get(uid, [])]
        fact = facts.get(uid)
        expected = fact is None or fact.inventory not in ("n/a",)
        stopped, missing = _stop(hops, expected)
        traces.append(Trace(uid, row.encounter_id, row.facility_id, tuple(hops), stopped,
                            missing, fact.capture if fact else "",
                            fact.inventory if fact else "", fact.mapping_reason if fact else "",
                            _money_stop(hops)))
    owned = {h.record_id for t in traces for h in t.hops}
    c = charges
    unlinked = tuple(
        Hop("charge", r.charge_id, r.posted_at, "", "unlinked",
            {"cdm": r.cdm_code, "amount": f"{r.amount:.2f}", "encounter": r.encounter_id})
        for r in conn.execute(select(c).where(c.c.charge_id.in_(named)).order_by(c.c.posted_at))
        if r.charge_id not in owned)
    return TraceResult(key, kind, tuple(traces), unlinked)
