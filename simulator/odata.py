"""OData v4 entity sets of the ERP, per docs/wire-formats.md (PascalCase fields)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.records import (
    CdmEntry,
    ContractPrice,
    Crosswalk,
    Facility,
    InventoryTxn,
    Item,
    Location,
    ReorderPoint,
    RequisitionVersion,
)
from simulator.timefmt import iso

# How an entity writes a time (epoch ms): ``iso`` (UTC ``Z``) unless a rendering says
# otherwise (simulator.rendering: a local offset).
TimeWriter = Callable[[int], str]

# The key fields of each entity set: ties in $orderby and the paging cursor.
KEYS: dict[str, tuple[str, ...]] = {
    "Facilities": ("FacilityId",),
    "Locations": ("LocationId",),
    "Items": ("ItemId",),
    "ItemUnits": ("ItemId", "Uom"),
    "ReorderPoints": ("ItemId", "LocationId"),
    "ChargeMaster": ("CdmCode",),
    "Crosswalk": ("ItemId",),
    "ContractPrices": ("ContractId",),
    "InventoryTransactions": ("DocumentId",),
    "PurchaseRequisitions": ("RequisitionId",),
}


def facility(f: Facility, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"FacilityId": f.facility_id, "Name": f.name, "ModifiedAt": ts(f.modified_ms)}


def location(loc: Location, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"LocationId": loc.location_id, "FacilityId": loc.facility_id, "Name": loc.name,
            "CostCentre": loc.cost_centre, "ModifiedAt": ts(loc.modified_ms)}


def item(i: Item, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"ItemId": i.item_id, "Description": i.description, "BaseUom": "EA",
            "UnitCost": i.unit_cost, "ItemClass": i.item_class, "Chargeable": i.chargeable,
            "Serialised": i.serialised, "Gtin": i.gtin, "ModifiedAt": ts(i.modified_ms)}


def item_unit(row: tuple[Item, str], ts: TimeWriter = iso) -> dict[str, Any]:
    i, uom = row
    return {"ItemId": i.item_id, "Uom": uom, "Factor": i.units[uom],
            "ModifiedAt": ts(i.modified_ms)}


def reorder_point(r: ReorderPoint, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"ItemId": r.item_id, "LocationId": r.location_id, "ReorderPoint": r.reorder_point,
            "ParLevel": r.par_level, "ModifiedAt": ts(r.modified_ms)}


def charge_master(c: CdmEntry, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"CdmCode": c.cdm_code, "Description": c.description, "Hcpcs": c.hcpcs,
            "RevenueCode": c.revenue_code, "Price": c.price, "ModifiedAt": ts(c.modified_ms)}


def crosswalk(x: Crosswalk, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"ItemId": x.item_id, "CdmCode": x.cdm_code, "ModifiedAt": ts(x.modified_ms)}


def contract_price(c: ContractPrice, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"ContractId": c.contract_id, "ItemId": c.item_id, "Supplier": c.supplier,
            "Price": c.price, "ValidFrom": c.valid_from, "ValidTo": c.valid_to,
            "ModifiedAt": ts(c.modified_ms)}


def inventory_transaction(t: InventoryTxn, ts: TimeWriter = iso, usage_ref: bool = True,
                          lag_ms: int | None = None) -> dict[str, Any]:
    """A stock movement. Without ``usage_ref`` the UsageRef is empty (the ERP lost the
    link); with ``lag_ms`` the ERP posted it that long after the movement: PostedAt and
    ModifiedAt move by the lag and MovedAt carries the movement time."""
    shift = lag_ms or 0
    row = {"DocumentId": t.document_id, "FacilityId": t.facility_id,
           "LocationId": t.location_id, "ItemId": t.item_id, "TransactionType": t.txn_type,
           "Quantity": t.quantity, "Uom": t.uom, "Lot": t.lot, "Serial": t.serial,
           "UsageRef": t.usage_ref if usage_ref else "", "UnitCost": t.unit_cost,
           "PostedAt": ts(t.posted_ms + shift)}
    if lag_ms is not None:
        row["MovedAt"] = ts(t.posted_ms)
    row["ModifiedAt"] = ts(t.modified_ms + shift)
    return row


def purchase_requisition(r: RequisitionVersion, ts: TimeWriter = iso) -> dict[str, Any]:
    return {"RequisitionId": r.requisition_id, "FacilityId": r.facility_id,
            "LocationId": r.location_id, "ItemId": r.item_id, "Quantity": r.quantity,
            "Status": r.status, "CreatedAt": ts(r.created_ms),
            "OrderedAt": ts(r.ordered_ms) if r.ordered_ms is not None else None,
            "ReceivedAt": ts(r.received_ms) if r.received_ms is not None else None,
            "ModifiedAt": ts(r.modified_ms)}


RENDERERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "Facilities": facility,
    "Locations": location,
    "Items": item,
    "ItemUnits": item_unit,
    "ReorderPoints": reorder_point,
    "ChargeMaster": charge_master,
    "Crosswalk": crosswalk,
    "ContractPrices": contract_price,
    "InventoryTransactions": inventory_transaction,
    "PurchaseRequisitions": purchase_requisition,
}
