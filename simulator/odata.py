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


def facility(f: Facility) -> dict[str, Any]:
    return {"FacilityId": f.facility_id, "Name": f.name, "ModifiedAt": iso(f.modified_ms)}


def location(loc: Location) -> dict[str, Any]:
    return {"LocationId": loc.location_id, "FacilityId": loc.facility_id, "Name": loc.name,
            "CostCentre": loc.cost_centre, "ModifiedAt": iso(loc.modified_ms)}


def item(i: Item) -> dict[str, Any]:
    return {"ItemId": i.item_id, "Description": i.description, "BaseUom": "EA",
            "UnitCost": i.unit_cost, "ItemClass": i.item_class, "Chargeable": i.chargeable,
            "Serialised": i.serialised, "Gtin": i.gtin, "ModifiedAt": iso(i.modified_ms)}


def item_unit(row: tuple[Item, str]) -> dict[str, Any]:
    i, uom = row
    return {"ItemId": i.item_id, "Uom": uom, "Factor": i.units[uom],
            "ModifiedAt": iso(i.modified_ms)}


def reorder_point(r: ReorderPoint) -> dict[str, Any]:
    return {"ItemId": r.item_id, "LocationId": r.location_id, "ReorderPoint": r.reorder_point,
            "ParLevel": r.par_level, "ModifiedAt": iso(r.modified_ms)}


def charge_master(c: CdmEntry) -> dict[str, Any]:
    return {"CdmCode": c.cdm_code, "Description": c.description, "Hcpcs": c.hcpcs,
            "RevenueCode": c.revenue_code, "Price": c.price, "ModifiedAt": iso(c.modified_ms)}


def crosswalk(x: Crosswalk) -> dict[str, Any]:
    return {"ItemId": x.item_id, "CdmCode": x.cdm_code, "ModifiedAt": iso(x.modified_ms)}


def contract_price(c: ContractPrice) -> dict[str, Any]:
    return {"ContractId": c.contract_id, "ItemId": c.item_id, "Supplier": c.supplier,
            "Price": c.price, "ValidFrom": c.valid_from, "ValidTo": c.valid_to,
            "ModifiedAt": iso(c.modified_ms)}


def inventory_transaction(t: InventoryTxn) -> dict[str, Any]:
    return {"DocumentId": t.document_id, "FacilityId": t.facility_id,
            "LocationId": t.location_id, "ItemId": t.item_id, "TransactionType": t.txn_type,
            "Quantity": t.quantity, "Uom": t.uom, "Lot": t.lot, "Serial": t.serial,
            "UsageRef": t.usage_ref, "UnitCost": t.unit_cost, "PostedAt": iso(t.posted_ms),
            "ModifiedAt": iso(t.modified_ms)}


def purchase_requisition(r: RequisitionVersion) -> dict[str, Any]:
    return {"RequisitionId": r.requisition_id, "FacilityId": r.facility_id,
            "LocationId": r.location_id, "ItemId": r.item_id, "Quantity": r.quantity,
            "Status": r.status, "CreatedAt": iso(r.created_ms),
            "OrderedAt": iso(r.ordered_ms) if r.ordered_ms is not None else None,
            "ReceivedAt": iso(r.received_ms) if r.received_ms is not None else None,
            "ModifiedAt": iso(r.modified_ms)}


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
