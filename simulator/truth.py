"""The ground truth: every injected fault and trap with its keys, and the counts served.

The truth describes the estate as it stands at ``as_of`` (the window end; the live
horizon in live mode): a fault is listed only when it is fully observable by then.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.claim_truth import claim_truth
from simulator.dnfb_truth import dnfb_truth
from simulator.estate_record import Estate, FacilityData
from simulator.faults import INVENTORY_SLA_MINUTES, SLA_MINUTES
from simulator.flow import Trail
from simulator.pricing_truth import pricing_truth
from simulator.recall_truth import recall_truth
from simulator.reconciliation_truth import reconciliation_truth
from simulator.remittance_truth import remittance_truth
from simulator.timefmt import MINUTE, iso
from simulator.underpayment_truth import underpayment_truth


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def build_truth(estate: Estate) -> dict[str, Any]:
    """The ``truth.json`` document (``http_faults`` is filled by the server as it serves)."""
    as_of = estate.hl7.as_of
    prices = {c.cdm_code: c.price for c in estate.catalog.cdm}
    faults: list[dict[str, Any]] = []
    for fac in estate.facilities:
        faults += _usage_faults(fac, prices)
        faults += _master_faults(estate, fac, prices, as_of)
    for channel, entries in estate.hl7.channels.items():
        for e in entries:
            if e.malformed is not None:
                faults.append({"kind": "malformed_hl7", "facility_id": e.malformed.facility_id,
                               "channel": channel, "file": e.file, "offset": e.offset,
                               "reason": e.malformed.reason})
    config = estate.config
    return {
        "seed": config.seed,
        "facilities": [f.facility.facility_id for f in estate.facilities],
        "start": iso(estate.start_ms),
        "end": iso(estate.end_ms),
        "as_of": iso(as_of),
        "live": estate.live,
        "volume_scale": config.volume_scale,
        "sla": {"implant_charge_minutes": SLA_MINUTES["IMPLANT"],
                "consumable_charge_minutes": SLA_MINUTES["CONSUMABLE"],
                "drug_charge_minutes": SLA_MINUTES["DRUG"],
                "inventory_issue_minutes": INVENTORY_SLA_MINUTES},
        "fault_rates": config.faults.model_dump(),
        "counts": counts(estate, as_of),
        "faults": faults,
        "outages": [row for fac in estate.facilities for row in _outages(fac)],
        "recall": recall_truth(estate, as_of),
        "remittances": remittance_truth(estate, as_of),
        "dnfb": dnfb_truth(estate, as_of),
        "reconciliation": reconciliation_truth(estate, as_of),
        "claims": claim_truth(estate, as_of),
        "pricing": pricing_truth(estate, as_of),
        "underpayment": underpayment_truth(estate, as_of),
        "http_faults": [],
    }


def counts(estate: Estate, as_of: int) -> dict[str, Any]:
    """How many records each API and log serves at ``as_of``, in total and per facility."""
    cols = estate.collections
    total = {
        "usage_events": cols["ehr/SupplyDelivery"].count(as_of),
        "charges": cols["billing/ChargeItem"].count(as_of),
        "encounters": cols["billing/Encounter"].count(as_of),
        "claims": cols["billing/Claim"].count(as_of),
        "claim_responses": cols["billing/ClaimResponse"].count(as_of),
        "inventory_transactions": cols["erp/InventoryTransactions"].count(as_of),
        "purchase_requisitions": cols["erp/PurchaseRequisitions"].count(as_of),
        "items": cols["erp/Items"].count(as_of),
        "item_units": cols["erp/ItemUnits"].count(as_of),
        "reorder_points": cols["erp/ReorderPoints"].count(as_of),
        "cdm_entries": cols["erp/ChargeMaster"].count(as_of),
        "crosswalk": cols["erp/Crosswalk"].count(as_of),
        "contract_prices": cols["erp/ContractPrices"].count(as_of),
        "locations": cols["erp/Locations"].count(as_of),
        "messages": 0, "acks": 0, "malformed_hl7": 0,
    }
    by_facility: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entries in estate.hl7.channels.values():
        for e in entries:
            if e.message is not None:
                fid = e.message.facility_id
                by_facility[fid]["messages"] += 1
                total["messages"] += 1
                if e.message.ack_ms is not None and e.message.ack_ms <= as_of:
                    total["acks"] += 1
            else:
                total["malformed_hl7"] += 1
    for u in cols["ehr/SupplyDelivery"].visible_records(as_of):
        by_facility[u.facility_id]["usage_events"] += 1
    for c in cols["billing/ChargeItem"].visible_records(as_of):
        by_facility[c.facility_id]["charges"] += 1
    for t in cols["erp/InventoryTransactions"].visible_records(as_of):
        if t.txn_type == "ISSUE":
            by_facility[t.facility_id]["inventory_issues"] += 1
    total["by_facility"] = {fid: dict(v) for fid, v in sorted(by_facility.items())}
    return total


def _outages(fac: FacilityData) -> list[dict[str, Any]]:
    """Each billing outage: its channel, when billing was down, and the messages the
    engine queued meanwhile (the first of them is the oldest queued until it ended)."""
    out = []
    for o in fac.outages:
        queued = [m for m in fac.messages if m.channel == o.channel and o.holds(m.received_ms)]
        out.append({"facility_id": fac.facility.facility_id, "channel": o.channel,
                    "start": iso(o.start_ms), "end": iso(o.end_ms), "queued": len(queued),
                    "first_queued_at": iso(min(m.received_ms for m in queued))
                    if queued else None,
                    "last_ack_at": iso(max(m.ack_ms or 0 for m in queued)) if queued else None})
    return out


def _usage_faults(fac: FacilityData, prices: dict[str, float]) -> list[dict[str, Any]]:
    fid = fac.facility.facility_id
    extra_trail: dict[str, Trail] = {}
    extra_of = {u.usage_id: extra.usage_id for u, extra in fac.extras}
    for t in fac.trails:
        if t.usage.role == "extra":
            extra_trail[t.usage.usage_id] = t
    out: list[dict[str, Any]] = []
    for t in fac.trails:
        u = t.usage
        kind, _, sub = u.fault.partition(":")
        if not kind or kind in ("no_crosswalk", "cdm_without_hcpcs"):
            continue
        row: dict[str, Any] = {"kind": kind, "facility_id": fid}
        ids = [c.charge_id for c in t.charges]
        if kind == "duplicate_charge":
            charges = list(t.charges)
            usage_ids = [u.usage_id]
            if sub == "serial_repeat":
                other = extra_trail[extra_of[u.usage_id]]
                charges += other.charges
                usage_ids.append(other.usage.usage_id)
            dup = charges[1:]
            row.update(subtype=sub, charge_ids=[c.charge_id for c in charges],
                       usage_ids=usage_ids,
                       control_ids=sorted({c.control_id for c in charges}),
                       extra_units=sum(c.quantity for c in dup),
                       overcharge=_money(sum(c.amount for c in dup)))
            if u.serial:
                row["serial"] = u.serial
        elif kind == "unknown_item":
            row.update(usage_id=u.usage_id, item_ref=u.item_ref)
        elif kind == "unit_not_convertible":
            row.update(usage_id=u.usage_id, item_id=u.item_ref, uom=u.uom)
        elif kind == "late_charge":
            c = t.charges[0]
            sla = SLA_MINUTES[u.item.item_class]  # type: ignore[union-attr]
            row.update(usage_id=u.usage_id, charge_id=c.charge_id, sla_minutes=sla,
                       minutes_late_over_sla=round((c.posted_ms - u.used_ms) / MINUTE - sla, 3))
        elif kind == "missing_charge":
            item = u.item
            assert item is not None
            base = u.quantity * item.units[u.uom]
            cdm = t.messages[-1].cdm_codes[0]
            row.update(usage_id=u.usage_id, item_id=item.item_id, cdm_code=cdm,
                       quantity=base, amount=_money(base * prices[cdm]))
        elif kind == "missing_inventory_issue":
            row.update(usage_id=u.usage_id, item_id=u.item_ref, quantity=u.quantity, uom=u.uom)
            if t.adjusted is not None:  # found by a cycle count: not an issue all the same
                row.update(subtype=sub, adjust_id=t.adjusted.document_id,
                           location_id=t.adjusted.location_id,
                           adjusted=t.adjusted.quantity)
        elif kind == "nack":
            first, resend = t.messages[0], t.messages[1]
            row.update(channel=first.channel, control_id=first.control_id,
                       ack_code=first.ack_code, resend_control_id=resend.control_id,
                       usage_ids=[u.usage_id])
        elif kind == "out_of_order":
            c = t.charges[0]
            if c.visible_ms != c.posted_ms:
                row.update(resource="ChargeItem", id=c.charge_id, last_updated=iso(c.posted_ms),
                           visible_at=iso(c.visible_ms))
            else:
                txn = t.issue
                assert txn is not None
                row.update(resource="InventoryTransactions", id=txn.document_id,
                           last_updated=iso(txn.modified_ms), visible_at=iso(txn.visible_ms))
            row["usage_id"] = u.usage_id
        elif kind == "trap_reversal_recharge":
            row.update(usage_id=u.usage_id, charge_ids=ids)
        elif kind == "trap_distinct_scans":
            other = extra_trail[extra_of[u.usage_id]]
            row.update(usage_ids=[u.usage_id, other.usage.usage_id],
                       charge_ids=ids + [c.charge_id for c in other.charges])
        elif kind == "trap_bx_conversion":
            item = u.item
            assert item is not None
            row.update(usage_id=u.usage_id, uom=u.uom, factor=item.units[u.uom],
                       charge_id=ids[0])
        elif kind == "trap_voided_recharge":
            row.update(usage_id=u.usage_id, voided_charge_id=ids[0], charge_id=ids[1])
        elif kind == "trap_issue_return":
            issue, back = t.issue, t.returned
            assert issue is not None and back is not None
            row.update(usage_id=u.usage_id, issue_id=issue.document_id,
                       return_id=back.document_id, issued=issue.quantity,
                       returned=back.quantity)
        elif kind == "trap_charge_after_window":
            row.update(usage_id=u.usage_id, charge_id=ids[0],
                       posted_at=iso(t.charges[0].posted_ms))
        out.append(row)
    return out


def _master_faults(estate: Estate, fac: FacilityData, prices: dict[str, float],
                   as_of: int) -> list[dict[str, Any]]:
    """no_crosswalk per item and cdm_without_hcpcs per CDM line, with the scans affected
    (those recorded by ``as_of``) and, for the latter, the charges served by then (a scan
    in the last hour may still wait for its charge)."""
    fid = fac.facility.facility_id
    by_item: dict[str, list[Any]] = defaultdict(list)
    by_code: dict[str, list[Any]] = defaultdict(list)
    xw = {x.item_id: x.cdm_code for x in estate.catalog.crosswalk}
    for u in fac.usages:
        if u.recorded_ms > as_of or u.item is None:
            continue
        if u.fault == "no_crosswalk":
            by_item[u.item.item_id].append(u)
        elif u.fault == "cdm_without_hcpcs":
            by_code[xw[u.item.item_id]].append(u)
    out: list[dict[str, Any]] = []
    for item_id, usages in sorted(by_item.items()):
        code = estate.intended_cdm[item_id]
        units = sum(u.quantity * u.item.units[u.uom] for u in usages)
        out.append({"kind": "no_crosswalk", "facility_id": fid, "item_id": item_id,
                    "usage_ids": [u.usage_id for u in usages], "intended_cdm_code": code,
                    "price": prices[code], "quantity": units,
                    "amount_at_risk": _money(units * prices[code])})
    charged = {t.usage.usage_id: [c.charge_id for c in t.charges if c.visible_ms <= as_of]
               for t in fac.trails if t.usage.fault == "cdm_without_hcpcs"}
    for code, usages in sorted(by_code.items()):
        out.append({"kind": "cdm_without_hcpcs", "facility_id": fid, "cdm_code": code,
                    "item_ids": sorted(i for i, c in xw.items() if c == code),
                    "usage_ids": [u.usage_id for u in usages],
                    "charge_ids": [cid for u in usages for cid in charged[u.usage_id]]})
    return out
