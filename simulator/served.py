"""The served collections of an estate: which records each endpoint serves, from when.

Keys are the mount-relative names the server routes on: ``billing/ChargeItem``,
``ehr/SupplyDelivery``, ``erp/Items`` ...
"""

from __future__ import annotations

from functools import partial

from simulator import fhir, fhir_eob, odata
from simulator.estate_record import Estate
from simulator.index import Collection, Entry
from simulator.records import NEVER
from simulator.renderer import EstateRenderer
from simulator.rendering import Rendering

BILLING = ("ChargeItem", "Encounter", "Claim", "ClaimResponse", "ExplanationOfBenefit")
EHR = ("SupplyDelivery",)
ERP = tuple(odata.KEYS)


def _key(*parts: str) -> str:
    return "\x00".join(parts)  # sorts like the tuple of its parts


def build_collections(estate: Estate, rendering: Rendering | None = None
                      ) -> dict[str, Collection]:
    """Index every served record by (last updated, id) with its visibility, rendered as
    ``rendering`` says (default: the estate's own conventions)."""
    cat = estate.catalog
    facs = estate.facilities
    out: dict[str, Collection] = {}
    renderer = None if rendering is None or rendering.is_plain else EstateRenderer(estate,
                                                                                   rendering)
    renders = renderer.renderers() if renderer is not None else {}

    def add(name: str, entries: list[Entry], render) -> None:  # type: ignore[no-untyped-def]
        out[name] = Collection.build(name.split("/")[1], entries, renders.get(name, render))

    add("billing/ChargeItem",
        [(c.posted_ms, c.charge_id, c.visible_ms or c.posted_ms, NEVER, c)
         for f in facs for c in f.charges], fhir.charge_item)
    encounters: list[Entry] = []
    for f in facs:
        for enc in f.encounters:
            first = fhir.encounter_updated(enc, 1)
            second = fhir.encounter_updated(enc, 2)
            encounters.append((first, enc.encounter_id, first, second, (enc, 1)))
            encounters.append((second, enc.encounter_id, second, NEVER, (enc, 2)))
    add("billing/Encounter", encounters, fhir.encounter)
    add("billing/Claim", [(c.created_ms, c.claim_id, c.created_ms, NEVER, c)
                          for f in facs for c in f.claims],
        partial(fhir.claim, cdm={e.cdm_code: e for e in cat.cdm}))
    add("billing/ClaimResponse",
        [(r.last_updated_ms, r.response_id, r.last_updated_ms, NEVER, r)
         for f in facs for r in f.responses], fhir.claim_response)
    # the payers' EOBs, served only when the rendering sends remittance over FHIR (the
    # demo's payers send 835 files: an empty searchset)
    eobs = rendering is not None and rendering.remittance == "fhir"
    add("billing/ExplanationOfBenefit",
        [(fhir_eob.eob_ready_ms(r), fhir_eob.eob_id(r), fhir_eob.eob_ready_ms(r), NEVER, r)
         for f in facs for r in f.remittances] if eobs else [],
        fhir_eob.explanation_of_benefit)
    add("ehr/SupplyDelivery", [(u.recorded_ms, u.usage_id, u.recorded_ms, NEVER, u)
                               for f in facs for u in f.usages], fhir.supply_delivery)

    def static(name: str, rows: list, stamp, key) -> None:  # type: ignore[no-untyped-def]
        add(f"erp/{name}", [(stamp(r), key(r), stamp(r), NEVER, r) for r in rows],
            odata.RENDERERS[name])

    static("Facilities", cat.facilities, lambda r: r.modified_ms, lambda r: r.facility_id)
    static("Locations", cat.locations, lambda r: r.modified_ms, lambda r: r.location_id)
    static("Items", cat.items, lambda r: r.modified_ms, lambda r: r.item_id)
    static("ItemUnits", [(i, uom) for i in cat.items for uom in i.units],
           lambda r: r[0].modified_ms, lambda r: _key(r[0].item_id, r[1]))
    static("ReorderPoints", cat.reorder_points, lambda r: r.modified_ms,
           lambda r: _key(r.item_id, r.location_id))
    static("ChargeMaster", cat.cdm, lambda r: r.modified_ms, lambda r: r.cdm_code)
    static("Crosswalk", cat.crosswalk, lambda r: r.modified_ms, lambda r: r.item_id)
    static("ContractPrices", cat.contracts, lambda r: r.modified_ms, lambda r: r.contract_id)
    txns: list[Entry] = []
    for f in facs:
        for t in f.inventory:
            # a rendering's posting lag moves when a transaction is modified and visible
            modified, visible = (renderer.inventory_times(t) if renderer is not None
                                 else (t.modified_ms, t.visible_ms or t.modified_ms))
            txns.append((modified, t.document_id, visible, NEVER, t))
    add("erp/InventoryTransactions", txns, odata.inventory_transaction)
    add("erp/PurchaseRequisitions",
        [(r.modified_ms, r.requisition_id, r.modified_ms, r.hidden_ms, r)
         for f in facs for r in f.requisitions], odata.purchase_requisition)
    return out
