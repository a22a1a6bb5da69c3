"""The truth's ``remittances`` section: every claim payment in the 835 files ready by
``as_of``, its status and money, the denials with their CARC, and the totals."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.estate_record import Estate
from simulator.records import Remittance
from simulator.timefmt import iso_date
from simulator.x12_835 import plan_files


def _usd(cents: int) -> float:
    return round(cents / 100, 2)


def _claim_row(r: Remittance, file: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "claim_id": r.claim.claim_id, "facility_id": r.claim.facility_id,
        "payer_id": r.payer_id, "status": r.status, "payer_claim_id": r.payer_claim_id,
        "paid_on": iso_date(r.paid_ms), "file": file, "charge": _usd(r.charge_cents),
        "paid": _usd(r.paid_cents), "patient_responsibility": _usd(r.patient_cents),
        "charge_ids": [line.charge.charge_id for line in r.lines],
        "lines_without_control": [line.line_no for line in r.lines if not line.control]}
    if r.denial is not None:
        row["denial"] = {"group": r.denial[0], "reason": r.denial[1],
                         "remarks": sorted({m for line in r.lines for m in line.remarks})}
        # the lines Chargeline could see coming (billed without HCPCS), by line number
        row["known_causes"] = [{"line_no": line.line_no, "charge_id": line.charge.charge_id,
                                "cause": line.cause} for line in r.lines if line.cause]
    elif any(line.denied for line in r.lines):
        row["denied_lines"] = [
            {"line_no": line.line_no, "charge_id": line.charge.charge_id,
             "procedure_code": line.procedure_code, "group": line.adjustments[0][0],
             "reason": line.adjustments[0][1], "remarks": line.remarks,
             "amount": _usd(line.charge_cents), "cause": line.cause or None}
            for line in r.lines if line.denied]
    return row


def _totals() -> dict[str, Any]:
    return {"claims": 0, "denied_claims": 0, "denied_usd": 0, "charge_usd": 0, "paid_usd": 0,
            "denied_lines": 0, "denied_line_usd": 0}


def _add(t: dict[str, Any], r: Remittance) -> None:
    t["claims"] += 1
    t["charge_usd"] += r.charge_cents
    t["paid_usd"] += r.paid_cents
    if r.status == "4":
        t["denied_claims"] += 1
        t["denied_usd"] += r.charge_cents
    else:
        denied = [line for line in r.lines if line.denied]
        t["denied_lines"] += len(denied)
        t["denied_line_usd"] += sum(line.charge_cents for line in denied)


def _dollars(t: dict[str, Any]) -> dict[str, Any]:
    return {k: _usd(v) if k.endswith("_usd") else v for k, v in t.items()}


def remittance_truth(estate: Estate, as_of: int) -> dict[str, Any]:
    """Totals (all, ``by_facility``, ``by_payer``; ``denied_usd`` is CLP03 of denied
    claims, ``denied_line_*`` the denied lines of paid claims) and ``items``: one row per
    remitted claim, in file order."""
    total = _totals()
    by_facility: dict[str, dict[str, Any]] = defaultdict(_totals)
    by_payer: dict[str, dict[str, Any]] = defaultdict(_totals)
    items = []
    files = [f for f in plan_files(estate) if f.ready_ms <= as_of]
    for f in files:
        for r in f.remittances:
            for t in (total, by_facility[r.claim.facility_id], by_payer[r.payer_id]):
                _add(t, r)
            items.append(_claim_row(r, f.path))
    return {**_dollars(total), "files": len(files),
            "by_facility": {k: _dollars(v) for k, v in sorted(by_facility.items())},
            "by_payer": {k: _dollars(v) for k, v in sorted(by_payer.items())},
            "items": items}
