"""The generated estate as a record: ``Estate`` and its per-hospital ``FacilityData``.

Its own module so that the builder (simulator.estate) and everything that reads an estate
(served collections, HL7 logs, truth, renderers, the server) import it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.catalog import Catalog
from simulator.config import EstateConfig
from simulator.flow import Trail
from simulator.index import Collection
from simulator.outages import Outage
from simulator.records import (
    Charge,
    Claim,
    ClaimResponse,
    Encounter,
    Facility,
    InventoryTxn,
    Malformed,
    Message,
    Remittance,
    RequisitionVersion,
    Usage,
)


@dataclass(slots=True)
class FacilityData:
    """Everything one hospital produced over the estate's time span."""

    facility: Facility
    encounters: list[Encounter]
    usages: list[Usage]
    trails: list[Trail]
    extras: list[tuple[Usage, Usage]]
    messages: list[Message]  # DFT^P03 to billing, re-sends included
    adt: list[Message]  # ADT^A04/A08
    malformed: list[tuple[Malformed, Message]]  # (broken message, the message before it)
    filtered_ms: list[int]  # scans of non-chargeable items the engine filtered
    charges: list[Charge]
    inventory: list[InventoryTxn]  # issues and receipts
    requisitions: list[RequisitionVersion]
    claims: list[Claim]
    responses: list[ClaimResponse]
    outages: list[Outage]  # billing down: the charge channel queued
    remittances: list[Remittance] = field(default_factory=list)  # 835 claim payments


@dataclass(slots=True)
class Estate:
    """A generated estate: its records, the served collections, HL7 logs and truth."""

    config: EstateConfig
    start_ms: int
    end_ms: int  # the window end: the truth is exact as of this time
    horizon_ms: int  # generation end (past ``end_ms`` in live mode)
    catalog: Catalog
    facilities: list[FacilityData]
    no_crosswalk: set[str]
    cdm_without_hcpcs: set[str]
    intended_cdm: dict[str, str]  # item -> the CDM line it should map to (crosswalked or not)
    collections: dict[str, Collection] = field(default_factory=dict)
    # simulator.hl7log.Hl7Layout; typed loosely because hl7log reads the Estate record
    hl7: Any = None
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.horizon_ms > self.end_ms

    @property
    def seed(self) -> int:
        return self.config.seed
