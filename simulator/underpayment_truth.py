"""The truth's ``underpayment`` section: every 835 service line a contracted payer paid
short of its contract (the ``underpayment`` fault, simulator.remittance), in the files
ready by ``as_of``, and the lines a contract judges.

A line is *judged* when its payer has a contract valid on its date of service and the
line is not denied (paid, or all patient responsibility); ``short`` = expected - allowed
(paid + patient responsibility). Totals per facility and per payer: ``judged_lines``,
``underpaid_lines``, ``underpayment_usd``, ``expected_usd`` of the judged lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.estate_record import Estate
from simulator.records import Remittance, RemittanceLine
from simulator.timefmt import iso_date
from simulator.x12_835 import plan_files


def _usd(cents: int) -> float:
    return round(cents / 100, 2)


def _judged(line: RemittanceLine) -> bool:
    return line.expected_cents is not None and not line.denied


def _row(r: Remittance, line: RemittanceLine) -> dict[str, Any]:
    patient = sum(c for g, _, c in line.adjustments if g == "PR")
    assert line.expected_cents is not None
    return {"claim_id": r.claim.claim_id, "facility_id": r.claim.facility_id,
            "payer_id": r.payer_id, "line_no": line.line_no,
            "charge_id": line.charge.charge_id, "procedure_code": line.procedure_code,
            "revenue_code": line.revenue_code, "units": line.charge.quantity,
            "service_on": iso_date(line.charge.service_ms), "paid_on": iso_date(r.paid_ms),
            "charge": _usd(line.charge_cents), "expected": _usd(line.expected_cents),
            "allowed": _usd(line.paid_cents + patient), "paid": _usd(line.paid_cents),
            "patient_responsibility": _usd(patient), "short": _usd(line.short_cents),
            "carc": line.short_carc}


def _totals() -> dict[str, Any]:
    return {"judged_lines": 0, "underpaid_lines": 0, "underpayment_usd": 0, "expected_usd": 0}


def underpayment_truth(estate: Estate, as_of: int) -> dict[str, Any]:
    """Totals (all, ``by_facility``, ``by_payer``) and ``items``: one row per underpaid
    line, in file order."""
    total = _totals()
    by_facility: dict[str, dict[str, Any]] = defaultdict(_totals)
    by_payer: dict[str, dict[str, Any]] = defaultdict(_totals)
    items = []
    for f in plan_files(estate):
        if f.ready_ms > as_of:
            continue
        for r in f.remittances:
            for line in r.lines:
                if not _judged(line):
                    continue
                assert line.expected_cents is not None
                for t in (total, by_facility[r.claim.facility_id], by_payer[r.payer_id]):
                    t["judged_lines"] += 1
                    t["expected_usd"] += line.expected_cents
                    if line.short_cents:
                        t["underpaid_lines"] += 1
                        t["underpayment_usd"] += line.short_cents
                if line.short_cents:
                    items.append(_row(r, line))

    def dollars(t: dict[str, Any]) -> dict[str, Any]:
        return {k: _usd(v) if k.endswith("_usd") else v for k, v in t.items()}

    return {**dollars(total),
            "by_facility": {k: dollars(v) for k, v in sorted(by_facility.items())},
            "by_payer": {k: dollars(v) for k, v in sorted(by_payer.items())},
            "items": items}
