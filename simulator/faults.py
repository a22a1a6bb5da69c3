"""Fault and trap assignment: each usage event draws at most one kind.

Master-data faults (no crosswalk, CDM without HCPCS) are fixed by the item a usage scans;
every other kind is drawn per usage, then checked against what it needs (a chargeable,
mapped item) and against time: a fault is only injected when it is fully observable
before the end of the window it falls in (a missing charge must be past its SLA, a
duplicate's second posting must have landed), so the truth file is exact at that end.
"""

from __future__ import annotations

import random

from simulator.config import USAGE_FAULT_KINDS, FaultRates
from simulator.records import Usage
from simulator.timefmt import HOUR, MINUTE

SLA_MINUTES = {"IMPLANT": 120, "CONSUMABLE": 1440, "DRUG": 1440}
INVENTORY_SLA_MINUTES = 240
DUPLICATE_SUBTYPES = ("same_usage", "same_message", "serial_repeat")
# Of the missing inventory issues at shelf stock (not serialised), this share is later found
# by a cycle count: the ERP posts an ADJUST of the item at the scan's location, naming no
# usage. A matcher by location + item + time that took any transaction would call the
# scan issued; the issue is still missing.
CYCLE_COUNT_SHARE = 0.5
# Serialised implants are where duplicates cost most and audits look first: they draw a
# serial-repeat duplicate at this multiple of the duplicate rate, on top of the usual draw.
SERIAL_REPEAT_BOOST = 8

# How long before the window end a usage must be for the fault to be complete by then.
_MARGIN_MS = {
    "duplicate_charge": 4 * HOUR,
    "unknown_item": 10 * MINUTE,
    "unit_not_convertible": 10 * MINUTE,
    "missing_inventory_issue": (INVENTORY_SLA_MINUTES + 10) * MINUTE,
    "nack": 40 * MINUTE,
    "out_of_order": 4 * HOUR,
    "trap_reversal_recharge": 10 * HOUR,
    "trap_distinct_scans": 4 * HOUR,
    "trap_bx_conversion": 4 * HOUR,
    "trap_voided_recharge": 4 * HOUR,
    "trap_issue_return": 6 * HOUR,
}


def _mapped(u: Usage, crosswalk: dict[str, str]) -> bool:
    return u.item is not None and u.item.chargeable and u.item.item_id in crosswalk


def eligible(kind: str, u: Usage, crosswalk: dict[str, str], end_ms: int, limit_ms: int) -> bool:
    """Can ``u`` carry ``kind``? ``end_ms`` is the estate end, ``limit_ms`` the end of the
    window ``u`` falls in (the estate end, or the live horizon for later usages)."""
    item = u.item
    if item is None:
        return False
    mapped = _mapped(u, crosswalk)
    t = u.used_ms
    if kind == "trap_charge_after_window":
        # posted after the estate end, still inside the 24 h consumable/drug SLA
        return mapped and item.item_class != "IMPLANT" and end_ms - 8 * HOUR <= t < end_ms
    if kind == "late_charge":
        return mapped and t + (SLA_MINUTES[item.item_class] + 660) * MINUTE < limit_ms
    if kind == "missing_charge":
        return mapped and t + (SLA_MINUTES[item.item_class] + 10) * MINUTE < limit_ms
    if t + _MARGIN_MS[kind] >= limit_ms:
        return False
    if kind in ("unknown_item", "missing_inventory_issue"):
        return True
    if kind == "nack":
        return item.chargeable  # only chargeable scans travel to billing as DFT^P03
    if kind == "trap_distinct_scans":
        return mapped and not item.serialised
    if kind == "trap_issue_return":  # a serialised implant is never issued twice over
        return not item.serialised and u.uom in item.units
    if kind == "trap_bx_conversion":
        return mapped and item.item_class == "CONSUMABLE" and "BX" in item.units
    if kind in ("duplicate_charge", "unit_not_convertible", "out_of_order",
                "trap_reversal_recharge", "trap_voided_recharge"):
        return mapped
    raise ValueError(f"unknown fault kind {kind}")


def assign_faults(
    rng: random.Random,
    usages: list[Usage],
    rates: FaultRates,
    crosswalk: dict[str, str],
    item_faulted: set[str],
    no_hcpcs_items: set[str],
    end_ms: int,
    horizon_ms: int,
) -> list[tuple[Usage, Usage]]:
    """Mark each usage with its fault (mutating it as the fault needs) and return
    (usage, extra scan) pairs for the serial-repeat and distinct-scan kinds."""
    table = []
    acc = 0.0
    for kind in USAGE_FAULT_KINDS:
        rate = getattr(rates, kind)
        if rate > 0:
            acc += rate
            table.append((acc, kind))
    extras: list[tuple[Usage, Usage]] = []
    for u in usages:
        item = u.item
        if item is not None and item.item_id in item_faulted:
            u.fault = "no_crosswalk"
            continue
        if item is not None and item.item_id in no_hcpcs_items:
            u.fault = "cdm_without_hcpcs"
            continue
        r = rng.random()
        limit_ms = end_ms if u.used_ms < end_ms else horizon_ms
        if (item is not None and item.serialised and rng.random() < SERIAL_REPEAT_BOOST
                * rates.duplicate_charge and eligible("duplicate_charge", u, crosswalk, end_ms,
                                                      limit_ms)):
            u.fault = "duplicate_charge:serial_repeat"
            extras.append((u, _extra(u, rng.randint(2, 20))))
            continue
        if not table or r >= acc:
            continue
        kind = next(k for limit, k in table if r < limit)
        if item is None or not eligible(kind, u, crosswalk, end_ms, limit_ms):
            continue
        u.fault = kind
        if kind == "unknown_item":
            u.item = None
            u.item_ref = f"ITM-9{rng.randint(10000, 99999)}"
            u.lot = u.serial = ""
        elif kind == "unit_not_convertible":
            u.uom = "PK" if "CS" in item.units else "CS"
        elif kind == "trap_bx_conversion":
            u.uom, u.quantity = "BX", 1
        elif kind == "duplicate_charge":
            # a serialised implant scanned twice is the costly case: favour it when possible
            sub = ("serial_repeat" if item.serialised and rng.random() < 0.6
                   else rng.choice(DUPLICATE_SUBTYPES[:2]))
            u.fault = f"duplicate_charge:{sub}"
            if sub == "serial_repeat":
                extras.append((u, _extra(u, rng.randint(2, 20))))
        elif kind == "missing_inventory_issue":
            if (not item.serialised and u.uom in item.units
                    and rng.random() < CYCLE_COUNT_SHARE):
                u.fault = "missing_inventory_issue:cycle_count"
        elif kind == "trap_distinct_scans":
            extra = _extra(u, rng.randint(5, 60))
            extra.quantity = rng.randint(1, max(1, item.max_qty))
            extras.append((u, extra))
    return extras


def _extra(u: Usage, minutes: int) -> Usage:
    """A second scan of the same item in the same encounter, ``minutes`` later."""
    return Usage("", u.facility_id, u.location_id, u.encounter, u.item, u.item_ref, u.quantity,
                 u.uom, u.lot, u.serial, u.clinician, u.used_ms + minutes * MINUTE,
                 fault="", role="extra")
