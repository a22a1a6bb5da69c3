"""The truth's ``pricing`` section: the charges billing posted off their CDM price and the
inventory issues the ERP booked above contract (simulator.pricing), as served at
``as_of``, each with its $.

- ``cdm_drift``: every served charge the ``cdm_price_drift`` fault moved (all of them
  survive: the fault moves no voided or reversed charge), with its CDM price, the unit
  price it posted at (amount / quantity) and ``usd`` = amount - quantity x CDM price
  (signed: negative when billed below the chargemaster);
- ``above_contract``: every served ISSUE booked above its contract price, with its base
  quantity (quantity x the unit's factor) and ``usd`` = (unit cost - contract price) x
  base quantity; a RETURN of an over-issue is not netted (it is not an issue).
"""

from __future__ import annotations

from typing import Any

from simulator.estate_record import Estate
from simulator.records import Charge, InventoryTxn
from simulator.timefmt import iso


def _money(value: float) -> float:
    return round(value + 1e-9, 2) if value >= 0 else -round(-value + 1e-9, 2)


def pricing_truth(estate: Estate, as_of: int) -> dict[str, Any]:
    """``{"cdm_drift": [...], "above_contract": [...]}``, each sorted by id."""
    cols = estate.collections
    charges: list[Charge] = list(cols["billing/ChargeItem"].visible_records(as_of))
    drift = [
        {"charge_id": c.charge_id, "facility_id": c.facility_id, "cdm_code": c.cdm_code,
         "posted_at": iso(c.posted_ms), "quantity": c.quantity, "cdm_price": c.list_price,
         "unit_price": round(c.amount / c.quantity, 4), "amount": c.amount,
         "usd": _money(c.amount - c.quantity * c.list_price)}
        for c in charges if c.list_price]
    units = {i.item_id: i.units for i in estate.catalog.items}
    issues: list[InventoryTxn] = list(cols["erp/InventoryTransactions"].visible_records(as_of))
    above = []
    for t in issues:
        if t.txn_type != "ISSUE" or t.contract_cost is None or t.unit_cost <= t.contract_cost:
            continue
        base = t.quantity * units[t.item_id][t.uom]
        above.append({"document_id": t.document_id, "facility_id": t.facility_id,
                      "location_id": t.location_id, "item_id": t.item_id,
                      "posted_at": iso(t.posted_ms), "quantity": t.quantity, "uom": t.uom,
                      "base_quantity": base, "contract_price": t.contract_cost,
                      "unit_cost": t.unit_cost,
                      "usd": _money((t.unit_cost - t.contract_cost) * base)})
    return {"cdm_drift": sorted(drift, key=lambda r: r["charge_id"]),
            "above_contract": sorted(above, key=lambda r: r["document_id"])}
