"""The Revenue cycle page's "Denials Chargeline saw coming" (pure): the share of denied $
whose cause Chargeline already knew, lines and $ per cause, and the lines themselves with
the usage whose trace explains them. Rows carry ids and codes only, never patient
identity (``metrics.read.denial_causes`` reads none)."""

from __future__ import annotations

from typing import Any

from metrics.read.denial_causes import KnownCauses

# cause -> what a revenue-integrity lead calls it
CAUSE_WORDS = {
    "cdm_without_hcpcs": "CDM line without HCPCS",
    "no_crosswalk": "Item without crosswalk",
    "unknown_item": "Unknown item",
    "unit_not_convertible": "Unit that does not convert",
    "duplicate": "Duplicate charge (the extra)",
    "quantity_mismatch": "Charged quantity off the scan",
}
CAUSE_COLUMNS = ("cause", "label", "lines", "usd")
LINE_COLUMNS = ("facility_id", "payer_id", "claim_id", "line_no", "carcs", "remark_codes",
                "usd", "label", "charge_id", "usage_id")
LIMIT = 500  # lines shown, largest $ first


def cause_label(cause: str) -> str:
    return CAUSE_WORDS.get(cause, cause)


def cause_rows(found: KnownCauses) -> list[dict[str, Any]]:
    """Per known cause, its denied lines and $ (largest $ first)."""
    return [{"cause": t.cause, "label": cause_label(t.cause), "lines": t.lines,
             "usd": float(t.usd)} for t in found.by_cause()]


def line_rows(found: KnownCauses, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The denied lines with a known cause, largest $ first, then claim and line."""
    known = sorted(found.known, key=lambda x: (-x.billed_usd, x.claim_id, x.line_no))
    return [{"facility_id": x.facility_id, "payer_id": x.payer_id, "claim_id": x.claim_id,
             "line_no": x.line_no, "carcs": x.carcs, "remark_codes": x.remark_codes,
             "usd": float(x.billed_usd), "label": cause_label(x.cause),
             "charge_id": x.charge_id, "usage_id": x.usage_id} for x in known[:limit]]


def share_caption(found: KnownCauses) -> str:
    """``12.5 % of denied $ ($1,300.00 of $10,400.00, 5 of 40 lines) ...``."""
    if found.share_pct is None:
        return "No line of the window's first remittances was denied."
    return (f"{found.share_pct:.1f} % of denied $ had a cause Chargeline already knew: "
            f"${float(found.known_usd):,.2f} of ${float(found.denied_usd):,.2f} "
            f"({len(found.known):,} of {len(found.lines):,} denied lines). These $ are "
            "already counted as failed-mapping or overcharge $ before billing, never added "
            "to revenue at risk.")
