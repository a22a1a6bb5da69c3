"""A rendering applied to one estate: the render function of every served collection and
the time writers of its HL7 logs, per simulator.rendering.

Nothing here changes a record: each choice (a dropped link, a posting lag) is made when
the record is written, from the rendering's own random stream of that record.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial
from typing import Any
from zoneinfo import ZoneInfo

from simulator import fhir, fhir_eob, odata
from simulator.estate_record import Estate
from simulator.records import CdmEntry, Charge, InventoryTxn, Usage
from simulator.rendering import Rendering
from simulator.timefmt import MINUTE, hl7_ts, hl7_ts_in, iso, iso_in

Render = Callable[[Any], dict[str, Any]]
_LINKED_TYPES = ("ISSUE", "RETURN")  # the ERP transactions that name a usage


class EstateRenderer:
    """``rendering`` of ``estate``: render functions keyed like the served collections."""

    def __init__(self, estate: Estate, rendering: Rendering) -> None:
        self.estate = estate
        self.rendering = rendering
        self.seed = estate.seed
        ids = [f.facility.facility_id for f in estate.facilities]
        self.zones = {fid: ZoneInfo(name)
                      for fid, name in rendering.facility_time_zones(ids).items()}
        # network-wide ERP master data (items, CDM, contracts) is written in the zone of
        # the first facility: the ERP's home
        self.home = ids[0] if ids else ""
        self.location_facility = {loc.location_id: loc.facility_id
                                  for loc in estate.catalog.locations}
        # the truth's as-of time: a lagged posting never passes it (minus a minute)
        self.cap_ms = (estate.horizon_ms if estate.live else estate.end_ms) - MINUTE

    # --- times ---------------------------------------------------------------------------
    def iso_of(self, facility_id: str) -> Callable[[int], str]:
        """How the systems of ``facility_id`` write an ISO 8601 time."""
        zone = self.zones.get(facility_id)
        return iso if zone is None else partial(iso_in, zone=zone)

    def hl7_of(self, facility_id: str) -> Callable[[int], str]:
        """How the HL7 messages of ``facility_id`` write a DTM."""
        zone = self.zones.get(facility_id)
        return hl7_ts if zone is None else partial(hl7_ts_in, zone=zone)

    @cached_property
    def _iso(self) -> dict[str, Callable[[int], str]]:
        return {fid: self.iso_of(fid) for fid in [*self.zones, self.home]}

    def _ts(self, facility_id: str) -> Callable[[int], str]:
        return self._iso.get(facility_id) or self.iso_of(facility_id)

    @cached_property
    def cdm(self) -> dict[str, CdmEntry]:
        """The charge master by CDM code: a claim line's revenue code and HCPCS."""
        return {c.cdm_code: c for c in self.estate.catalog.cdm}

    # --- links ---------------------------------------------------------------------------
    @cached_property
    def duplicate_unlinked(self) -> dict[str, bool]:
        """Charge id -> whether it loses its links, for every charge of an injected
        duplicate group: exactly one copy of each group does (at random)."""
        out: dict[str, bool] = {}
        if not self.rendering.duplicate_one_copy_unlinked:
            return out
        for fault in self.estate.truth.get("faults", []):
            if fault["kind"] != "duplicate_charge":
                continue
            ids: list[str] = fault["charge_ids"]
            chosen = self.rendering.rng(self.seed, "duplicate", ids[0]).choice(ids)
            out.update({cid: cid == chosen for cid in ids})
        return out

    def charge_linked(self, charge_id: str) -> bool:
        """Whether the ChargeItem carries its usage-id and hl7-control-id extensions."""
        dup = self.duplicate_unlinked.get(charge_id)
        if dup is not None:
            return not dup
        share = self.rendering.charge_link_dropout
        return share <= 0 or self.rendering.rng(self.seed, "charge_link",
                                                charge_id).random() >= share

    def issue_linked(self, t: InventoryTxn) -> bool:
        """Whether an ERP transaction keeps its UsageRef."""
        share = self.rendering.issue_link_dropout
        if share <= 0 or t.txn_type not in _LINKED_TYPES:
            return True
        return self.rendering.rng(self.seed, "issue_link", t.document_id).random() >= share

    # --- ERP posting lag -----------------------------------------------------------------
    def lag_ms(self, t: InventoryTxn) -> int | None:
        """How much later than the movement the ERP posted ``t`` (None: no lag rendering).

        The lag is drawn in [min, max] minutes, then cut so the transaction is still
        visible by the truth's as-of time less a minute; one already past it keeps 0."""
        if not self.rendering.lagged:
            return None
        low, high = self.rendering.erp_posting_lag_minutes
        lag = self.rendering.rng(self.seed, "erp_lag", t.document_id).randint(
            low * MINUTE, high * MINUTE)
        visible = t.visible_ms or t.modified_ms
        return max(0, min(lag, self.cap_ms - visible))

    def inventory_times(self, t: InventoryTxn) -> tuple[int, int]:
        """(ModifiedAt, visible from) of ``t`` as served: both move with the lag."""
        shift = self.lag_ms(t) or 0
        return t.modified_ms + shift, (t.visible_ms or t.modified_ms) + shift

    # --- render functions ----------------------------------------------------------------
    def charge_item(self, c: Charge) -> dict[str, Any]:
        return fhir.charge_item(c, self._ts(c.facility_id), self.charge_linked(c.charge_id),
                                self.rendering.price_basis == "unit")

    def supply_delivery(self, u: Usage) -> dict[str, Any]:
        return fhir.supply_delivery(u, iso if self.rendering.usage_in_utc
                                    else self._ts(u.facility_id))

    def inventory_transaction(self, t: InventoryTxn) -> dict[str, Any]:
        return odata.inventory_transaction(t, self._ts(t.facility_id), self.issue_linked(t),
                                           self.lag_ms(t))

    def renderers(self) -> dict[str, Render]:
        """The render function of each served collection under this rendering."""
        ts = self._ts
        home = ts(self.home)
        loc_fac = self.location_facility
        out: dict[str, Render] = {
            "billing/ChargeItem": self.charge_item,
            "billing/Encounter": lambda v: fhir.encounter(v, ts(v[0].facility_id)),
            "billing/Claim": lambda c: fhir.claim(c, ts(c.facility_id), self.cdm,
                                                  self.charge_linked),
            "billing/ClaimResponse": lambda r: fhir.claim_response(r, ts(r.claim.facility_id)),
            "billing/ExplanationOfBenefit": lambda r: fhir_eob.explanation_of_benefit(
                r, ts(r.claim.facility_id)),
            "ehr/SupplyDelivery": self.supply_delivery,
            "erp/Facilities": lambda f: odata.facility(f, ts(f.facility_id)),
            "erp/Locations": lambda loc: odata.location(loc, ts(loc.facility_id)),
            "erp/ReorderPoints": lambda r: odata.reorder_point(
                r, ts(loc_fac.get(r.location_id, self.home))),
            "erp/InventoryTransactions": self.inventory_transaction,
            "erp/PurchaseRequisitions": lambda r: odata.purchase_requisition(
                r, ts(r.facility_id)),
        }
        for name in ("Items", "ItemUnits", "ChargeMaster", "Crosswalk", "ContractPrices"):
            out[f"erp/{name}"] = partial(odata.RENDERERS[name], ts=home)
        return out
