"""Formatting of the ``chargeline report`` document: human text or stable JSON. Pure."""

from __future__ import annotations

import json
from typing import Any

from metrics.catalog import FAILED_MAPPING_REASONS, HOPS


def to_json(doc: dict[str, Any]) -> str:
    """The document as JSON (keys in a stable order, two-space indent)."""
    return json.dumps(doc, indent=2, sort_keys=False, default=str)


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _n(x: float | None, unit: str = "", digits: int = 1) -> str:
    if x is None:
        return "-"
    text = f"{x:,.0f}" if float(x).is_integer() and digits else f"{x:,.{digits}f}"
    return f"{text}{unit}"


def _scope_lines(block: dict[str, Any]) -> list[str]:
    cc, inv, dup = block["charge_capture"], block["inventory"], block["duplicates"]
    fm = block["failed_mappings"]
    lat = block["latency_minutes"]
    lines = [
        f"  Charge capture     {_n(cc['capture_pct'], ' %')}  ({cc['on_time']:,} of "
        f"{cc['due']:,} due charged within SLA; {cc['late']:,} late, {cc['missing']:,} "
        f"missing, {cc['unmapped']:,} unmapped, {cc['pending']:,} pending)",
        f"  Revenue leakage    {_usd(cc['revenue_leakage_usd'])}   revenue at risk "
        f"{_usd(cc['revenue_at_risk_usd'])}",
        "  Failed mappings    " + " · ".join(
            f"{r} {fm[r]['count']:,} ({_usd(fm[r]['usd'])})" for r in FAILED_MAPPING_REASONS),
        f"  Duplicate charges  {dup['groups']:,} groups, {_n(dup['extra_units'])} extra units, "
        f"{_usd(dup['overcharge_usd'])} overcharged",
        f"  Inventory          {inv['missing_issues']:,} missing issues · "
        f"{inv['charged_not_issued']:,} charged not issued · {inv['issued_not_charged']:,} "
        f"issued not charged · {inv['quantity_mismatches']:,} quantity mismatches · "
        f"accuracy {_n(inv['accuracy_pct'], ' %')} · p95 posting delay "
        f"{_n(inv['posting_delay_p95_minutes'], ' min')}",
        "  Latency (minutes)  " + " | ".join(
            f"{hop} p50 {_n(lat[hop]['p50'])} p95 {_n(lat[hop]['p95'])} "
            f"p99 {_n(lat[hop]['p99'])}" for hop in HOPS),
        f"  Replenishment      {_n(block['replenishment_cycle_hours'], ' h')} mean cycle",
        f"  Margin             {_usd(block['margin_usd']['total'])} billed minus supply cost",
    ]
    for metric, error in block["errors"].items():
        lines.append(f"  ! {metric}: {error}")
    return lines


def _denial_line(label: str, b: dict[str, Any]) -> str:
    return (f"  {label:<19} {_n(b['denial_rate_pct'], ' %')}  ({b['denied']:,} of "
            f"{b['claims']:,} claims; {_usd(b['denied_usd'])} of {_usd(b['charges_usd'])} = "
            f"{_n(b['denial_rate_usd_pct'], ' %')}) · still denied {_usd(b['denied_open_usd'])}"
            f" on {b['denied_open_claims']:,} claim{'' if b['denied_open_claims'] == 1 else 's'}")


def _dnfb_lines(dnfb: dict[str, Any]) -> list[str]:
    """Discharged not final billed at the report's end, when the store has claims."""
    rows = ([("DNFB", dnfb["network"])] if dnfb.get("network") else []) + [
        (f"DNFB {fac}", b) for fac, b in dnfb.get("facilities", {}).items()]
    return [f"  {label:<19} {_usd(b['usd'])} on {b['encounters']:,} encounter"
            f"{'' if b['encounters'] == 1 else 's'} discharged, not final billed "
            f"({_n(b['days'], ' days', 2)} of {_usd(b['gross_per_day_usd'])} daily gross)"
            for label, b in rows]


def _pricing_lines(pricing: dict[str, Any]) -> list[str]:
    """Chargemaster drift and supply cost above contract in the window, when the window
    has charges or issues to judge."""
    rows = ([("", pricing["network"])] if pricing.get("network") else []) + [
        (f" {fac}", b) for fac, b in pricing.get("facilities", {}).items()]
    out = []
    for suffix, b in rows:
        if b["charges_judged"]:
            out.append(f"  {'Chargemaster drift' + suffix:<19} {_usd(b['cdm_drift_usd'])} "
                       f"(net {_usd(b['cdm_drift_net_usd'])}) on {b['cdm_drift_charges']:,} of "
                       f"{b['charges_judged']:,} charges posted off their CDM price")
        if b["issues_judged"]:
            out.append(f"  {'Supply cost above contract' + suffix} "
                       f"{_usd(b['above_contract_usd'])} on {b['above_contract_issues']:,} of "
                       f"{b['issues_judged']:,} issues")
    return out


def _reconciliation_lines(rec: dict[str, Any]) -> list[str]:
    """Encounter reconciliation of the window's discharges, when some were judged."""
    rows = ([("Reconciled", rec["network"])] if rec.get("network") else []) + [
        (f"Reconciled {fac}", b) for fac, b in rec.get("facilities", {}).items()]
    return [f"  {label:<19} {_n(b['rate_pct'], ' %')} of {b['judged']:,} encounters "
            f"posted, claimed and paid · gaps: charge {b['charge_gap']:,} "
            f"({_usd(b['charge_gap_usd'])}), claim {b['claim_gap']:,} "
            f"({_usd(b['claim_gap_usd'])}), payment {b['payment_gap']:,} "
            f"({_usd(b['payment_gap_usd'])})"
            for label, b in rows if b["judged"]]


def _underpayment_lines(under: dict[str, Any]) -> list[str]:
    """Underpayments against the payer contracts, for the network and each payer a
    contract judges (nothing when no contract is configured)."""
    rows = ([("Underpaid", under["network"])] if under.get("network") else []) + [
        (f"underpaid {payer}", b) for payer, b in under.get("payers", {}).items()]
    return [f"  {label:<19} {_usd(b['underpayment_usd'])} on {b['underpaid_lines']:,} of "
            f"{b['judged_lines']:,} lines judged against contract (expected "
            f"{_usd(b['expected_usd'])}; overpaid {_usd(b['over_usd'])}, not netted)"
            for label, b in rows if b["judged_lines"]]


def _revenue_lines(rc: dict[str, Any] | None) -> list[str]:
    """The revenue-cycle section, or nothing when the window holds no remittance, the
    store no claim and the window no charge or issue to price (a store without those
    sources reads as it did before)."""
    if not rc:
        return []
    dnfb = _dnfb_lines(rc.get("dnfb", {})) + _reconciliation_lines(
        rc.get("reconciliation", {}))
    pricing = _pricing_lines(rc.get("pricing", {}))
    if not (rc["facilities"] or rc["payers"]):
        return ["", "REVENUE CYCLE", *dnfb, *pricing] if dnfb or pricing else []
    out = ["", "REVENUE CYCLE (initial denials, by the initial remittance's payment date)",
           *dnfb, *pricing]
    if rc["network"] is not None:
        out.append(_denial_line("Initial denials", rc["network"]))
    for facility, b in rc["facilities"].items():
        out.append(_denial_line(f"FACILITY {facility}", b))
    for payer, b in rc["payers"].items():
        out.append(_denial_line(f"payer {payer}", b))
    if rc["denial_reasons"]:
        out.append("  Denial reasons      " + " · ".join(
            f"{carc} {r['count']:,} ({_usd(r['usd'])})"
            for carc, r in rc["denial_reasons"].items()))
    out += _underpayment_lines(rc.get("underpayments", {}))
    for metric, error in rc.get("errors", {}).items():
        out.append(f"  ! {metric}: {error}")
    return out


_SPAN_NAMES = {"usage_events": "usage events", "messages": "messages", "charges": "charges"}


def _span_lines(doc: dict[str, Any]) -> list[str]:
    """What an empty window says instead of zeros: where the store's data lies."""
    where = f" for facility {doc['facility']}" if doc["facility"] else ""
    suggested = doc["suggested_window"]
    if suggested is None:
        return ["", f"The store holds no usage events, messages or charges{where} yet: "
                "collect (`chargeline collect --once`) or backfill (`chargeline ingest`) "
                "first."]
    out = ["", f"No usage events, messages or charges{where} in this window (since "
           "included, until left out). The store holds:"]
    for kind, name in _SPAN_NAMES.items():
        span = doc["data_span"][kind]
        out.append(f"  {name:<14} " + (f"{span['first']} .. {span['last']}"
                                       if span["first"] else "none"))
    out.append(f"Try: chargeline report --since {suggested['since']} "
               f"--until {suggested['until']}"
               + (f" --facility {doc['facility']}" if doc["facility"] else ""))
    return out


def to_text(doc: dict[str, Any], *, store: str = "") -> str:
    """The document as the human report; ``store`` names the database it was read from
    (its password masked by the caller)."""
    out = [f"Chargeline metrics  {doc['since']} -> {doc['until']}"
           + (f"  (computed {doc['computed_at']})" if doc["computed_at"] else
              "  (metrics not computed yet: run `chargeline metrics compute`)")]
    if store:
        out.append(f"store: {store}")
    if doc["empty_window"]:
        return "\n".join(out + _span_lines(doc) + _revenue_lines(doc.get("revenue_cycle")))
    if doc["network"] is not None:
        out += ["", "NETWORK", *_scope_lines(doc["network"])]
    for facility, block in doc["facilities"].items():
        out += ["", f"FACILITY {facility}  ({block['usage_events']:,} usage events)",
                *_scope_lines(block)]
    if doc["channels"]:
        out += ["", "INTERFACES"]
        for channel, c in doc["channels"].items():
            out.append(f"  {channel:<28} received {_n(c.get('messages_received'))}  errored "
                       f"{_n(c.get('messages_errored'))}  NACK {_n(c.get('nack_rate_pct'), ' %')}"
                       f"  queue {_n(c.get('queue_depth'))} "
                       f"({_n(c.get('queue_age_minutes'), ' min')})")
    if doc["sources"]:
        out += ["", "SOURCES"]
        for source, s in doc["sources"].items():
            success = ("never" if s.get("never_succeeded") else
                       f"{_n(s.get('minutes_since_success'), ' min')} ago")
            line = (f"  {source:<22} {s['status']:<6} last success {success}, newest record "
                    f"{_n(s.get('freshness_minutes'), ' min')} old")
            if s.get("api_p95_ms") is not None:
                line += (f", API p95 {_n(s['api_p95_ms'], ' ms', 0)}, errors "
                         f"{_n(s.get('api_error_rate_pct'), ' %')}, 429s "
                         f"{_n(s.get('api_throttled'))}")
            out.append(line + (f"\n    ! {s['error']}" if s.get("error") else ""))
    out += ["", "EXCEPTION QUEUE (open)"]
    if not doc["exceptions"]:
        out.append("  nothing open")
    for kind, e in doc["exceptions"].items():
        out.append(f"  {kind:<24} {e['open']:>6,}  {_usd(e['usd'])}")
    return "\n".join(out + _revenue_lines(doc.get("revenue_cycle")))
