"""A transaction trace from ``metrics.read.trace`` shaped for the Lineage page (pure): a lane and
a status colour per hop, a one-line detail, and where the chain stopped in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics.read.trace import Hop as TraceHop
from metrics.read.trace import Trace

LANES = ("EHR scan", "Engine received", "Engine sent", "Billing charge", "Claim line",
         "Remittance line", "ERP issue", "Replenishment")
LANE_OF = {"usage": "EHR scan", "received": "Engine received", "sent": "Engine sent",
           "charge": "Billing charge", "credit": "Billing charge", "claim_line": "Claim line",
           "remittance_line": "Remittance line", "inventory": "ERP issue",
           "replenishment": "Replenishment"}
BLOCKING_REASONS = ("unknown_item", "no_crosswalk", "unit_not_convertible")


@dataclass(frozen=True)
class Hop:
    """One hop as drawn: its lane, time, status colour key, record id and detail."""

    lane: str
    at: datetime | None
    status: str  # ok | late | error | queued | duplicate | credit | missing | pending
    key: str
    detail: str


def _status(hop: TraceHop) -> str:
    if hop.hop == "sent" and hop.status in ("AE", "AR"):
        return "error"
    if hop.hop == "received" and hop.status == "Q":
        return "queued"
    if hop.hop == "received" and hop.status == "E":
        return "error"
    if hop.hop == "charge" and "duplicate_of" in hop.detail:
        return "duplicate"
    if hop.hop == "credit":
        return "credit"
    if hop.hop == "remittance_line" and hop.status == "denied":
        return "error"
    return "ok"


def quantity_text(text: str) -> str:
    """A stored quantity as a person reads it: ``1.0000 EA`` -> ``1 EA``, ``-2.5000`` ->
    ``-2.5`` (the store's NUMERIC comes back with its scale's zeros)."""
    number, _, unit = str(text).partition(" ")
    try:
        shown = f"{float(number):g}"
    except ValueError:
        return str(text)
    return f"{shown} {unit}".rstrip()


def _detail(hop: TraceHop) -> str:
    d = hop.detail
    if hop.hop == "usage":
        return (f"{d.get('item', '')} × {quantity_text(d.get('quantity', ''))} at "
                f"{d.get('location', '')}")
    if hop.hop == "received":
        return f"{d.get('channel', '')} status {hop.status}"
    if hop.hop == "sent":
        if hop.status in ("AE", "AR"):
            return f"NACK {hop.status} {d.get('error', '')}".strip()
        return f"ACK {hop.status}".strip()
    if hop.hop in ("charge", "credit"):
        text = f"CDM {d.get('cdm', '')} ${d.get('amount', '')} {hop.status}"
        if "duplicate_of" in d:
            text += f" — repeats {d['duplicate_of']} (same {d.get('duplicate_key', '')})"
        if "reverses" in d:
            text += f" — reverses {d['reverses']}"
        return text + (f" · linked by {hop.method}" if hop.method not in ("", "usage_id") else "")
    if hop.hop == "inventory":
        return f"{hop.status} {quantity_text(d.get('quantity', ''))} {d.get('item', '')}" + (
            f" · linked by {hop.method}" if hop.method not in ("", "usage_id") else "")
    via = f" · linked by {hop.method.replace('_', ' ')}" if hop.method else ""
    if hop.hop == "claim_line":
        code = d.get("procedure") or f"rev {d.get('revenue_code', '')}"
        return (f"claim {d.get('claim', '')} line {d.get('line', '')}: {code} × "
                f"{d.get('units', '')} ${d.get('amount', '')}{via}")
    if hop.hop == "remittance_line":
        remarks = f" ({d['remarks']})" if d.get("remarks") else ""
        return (f"{hop.status} ${d.get('paid', '')} of ${d.get('billed', '')}, CLP02 "
                f"{d.get('clp02', '')}{remarks}{via}")
    if hop.hop == "replenishment":
        received = d.get("received_at", "")
        return f"requisition {hop.status}" + (f", received {received[:16]}" if received else "")
    return ""


def hops(trace: Trace) -> list[Hop]:
    """The trace's hops for drawing, in time order."""
    out = [Hop(LANE_OF.get(h.hop, h.hop), h.at, _status(h), h.record_id, _detail(h))
           for h in trace.hops]
    return sorted(out, key=lambda h: (h.at is None, h.at or datetime.min))


@dataclass(frozen=True)
class Verdict:
    """A trace's headline: the lane it is about (or ``complete``), why in words, and how
    bad: ``ok``, ``waiting`` (still inside its SLA: not a failure), ``late`` (arrived
    after its SLA) or ``problem``."""

    lane: str
    why: str
    level: str


def _duplicates(trace: Trace) -> list[TraceHop]:
    return [h for h in trace.hops if h.hop == "charge" and "duplicate_of" in h.detail]


def verdict(trace: Trace) -> Verdict:
    """What a steward must know first about this usage. A duplicate charge comes first
    (it names the extra to credit); a mapping that blocks charging stops it at the scan;
    a CDM line without HCPCS does not stop the charge, so it is only noted; a hop not
    there yet inside its SLA is waiting, not failed."""
    extras = _duplicates(trace)
    if extras:
        credit = ", ".join(f"{h.record_id} (${h.detail.get('amount', '')})" for h in extras)
        originals = ", ".join(dict.fromkeys(h.detail["duplicate_of"] for h in extras))
        return Verdict("Billing charge", f"charged twice: credit {credit}, which repeats "
                       f"{originals}", "problem")
    if trace.mapping in BLOCKING_REASONS:
        return Verdict("EHR scan", f"failed mapping: {trace.mapping.replace('_', ' ')}",
                       "problem")
    note = " (and its CDM line has no HCPCS)" if trace.mapping == "cdm_without_hcpcs" else ""
    sent = [h for h in trace.hops if h.hop == "sent"]
    charge_path = trace.capture != "not_chargeable"  # nothing to bill: no message, no charge
    waiting = trace.capture == "pending"
    level = "waiting" if waiting else "problem"
    if not charge_path:
        note += " (not chargeable: only the inventory path applies)"
    elif trace.stopped_at == "received":
        why = ("no message from the engine yet (still inside the SLA)" if waiting
               else "the engine never received a message for this scan")
        return Verdict("Engine received", why + note, level)
    elif trace.stopped_at == "sent":
        if sent and sent[-1].status in ("AE", "AR"):
            return Verdict("Engine sent", "the engine could not deliver it: "
                           + _detail(sent[-1]) + note, "problem")
        return Verdict("Engine sent", "queued in the engine, not delivered yet" + note, level)
    elif trace.stopped_at == "charge":
        if waiting:
            return Verdict("Billing charge", "charge not posted yet (still inside the SLA)"
                           + note, "waiting")
        return Verdict("Billing charge", "no charge posted within the SLA" + note, "problem")
    if trace.inventory == "missing":
        return Verdict("ERP issue", "no inventory issue posted within the SLA" + note,
                       "problem")
    if trace.inventory == "pending":
        return Verdict("ERP issue", "inventory issue not posted yet (still inside the SLA)"
                       + note, "waiting")
    late = " (charge was late)" if trace.capture == "late" else ""
    return Verdict("complete", "every hop arrived" + late + note, "late" if late else "ok")


def headline(usage_id: str, v: Verdict) -> str:
    """The sentence above a trace (markdown)."""
    if v.lane == "complete":
        return f"{usage_id}: {v.why}."
    verb = {"waiting": "waiting at", "problem": "stopped at"}.get(v.level, "at")
    if v.why.startswith("charged twice"):
        verb = "at"
    return f"{usage_id} {verb} **{v.lane}**: {v.why}."


def stopped_at(trace: Trace) -> tuple[str, str]:
    """Where the chain stopped (a lane, or ``complete``) and why, in words."""
    v = verdict(trace)
    return v.lane, v.why


SEVERITY = {"problem": 0, "late": 1, "waiting": 2, "ok": 3}


def usages_table(traces: list[Trace]) -> list[dict[str, str]]:
    """One row per usage of a trace (an encounter has several): problems first."""
    rows = []
    for t in traces:
        v = verdict(t)
        usage = next((h for h in t.hops if h.hop == "usage"), None)
        rows.append({"Usage": t.usage_id, "Item": usage.detail.get("item", "") if usage else "",
                     "Scanned": usage.at if usage else None, "Verdict": v.level,
                     "Where": v.lane, "Why": v.why})
    return sorted(rows, key=lambda r: (SEVERITY[r["Verdict"]], r["Usage"]))
