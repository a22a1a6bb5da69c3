"""The estate's records: plain slotted dataclasses, times as epoch milliseconds.

Payloads (FHIR, OData, HL7) are rendered from these on demand, so a huge estate stays
small in memory and a served page costs only its own records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NEVER = 2**62  # a time after every other time: "not hidden", "not yet"


@dataclass(slots=True)
class Facility:
    facility_id: str
    name: str
    city: str
    size: float
    modified_ms: int


@dataclass(slots=True)
class Location:
    location_id: str
    facility_id: str
    name: str
    kind: str  # OR, CATH, ED, ICU, MEDSURG
    cost_centre: str
    modified_ms: int


@dataclass(slots=True)
class Item:
    item_id: str
    description: str
    item_class: str  # IMPLANT | CONSUMABLE | DRUG
    unit_cost: float
    chargeable: bool
    serialised: bool
    gtin: str
    hcpcs: str
    revenue_code: str
    supplier: str
    units: dict[str, int]  # uom -> base units (EA = 1)
    areas: tuple[str, ...]  # location kinds that use it
    weight: float  # relative popularity
    max_qty: int
    modified_ms: int


@dataclass(slots=True)
class CdmEntry:
    cdm_code: str
    description: str
    hcpcs: str
    revenue_code: str
    price: float
    modified_ms: int


@dataclass(slots=True)
class Crosswalk:
    item_id: str
    cdm_code: str
    modified_ms: int


@dataclass(slots=True)
class ContractPrice:
    contract_id: str
    item_id: str
    supplier: str
    price: float
    valid_from: str
    valid_to: str | None
    modified_ms: int


@dataclass(slots=True)
class ReorderPoint:
    item_id: str
    location_id: str
    reorder_point: int
    par_level: int
    modified_ms: int


@dataclass(slots=True)
class Patient:
    patient_id: str
    mrn: str
    family: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str


@dataclass(slots=True)
class Encounter:
    encounter_id: str
    facility_id: str
    location_id: str
    patient: Patient
    encounter_class: str  # IMP | AMB | EMER
    cpt: str
    start_ms: int
    end_ms: int
    last_updated_ms: int = 0


@dataclass(slots=True)
class Usage:
    usage_id: str
    facility_id: str
    location_id: str
    encounter: Encounter
    item: Item | None  # None: the scanned reference is not in the item master
    item_ref: str
    quantity: int
    uom: str
    lot: str
    serial: str
    clinician: str
    used_ms: int
    recorded_ms: int = 0
    fault: str = ""  # the one fault or trap this usage carries
    role: str = ""  # "extra" for a scan a fault or trap added


@dataclass(slots=True)
class Message:
    """One inbound HL7 message and the ACK the receiver returned."""

    control_id: str
    channel: str
    facility_id: str
    event: str  # DFT^P03, ADT^A04, ADT^A08
    received_ms: int
    encounter: Encounter
    usages: list[Usage] = field(default_factory=list)
    cdm_codes: list[str] = field(default_factory=list)  # per usage, "" when unmapped
    amounts: list[float | None] = field(default_factory=list)
    ack_ms: int | None = None
    ack_code: str = "AA"
    ack_text: str = ""
    resend_of: str = ""
    framed: bool = False


@dataclass(slots=True)
class Malformed:
    """A broken message in an HL7 log, placed right after ``after`` (its ACK included)."""

    control_id: str
    channel: str
    facility_id: str
    reason: str  # truncated | no_msh | bad_encoding | garbage
    received_ms: int
    payload: bytes


@dataclass(slots=True)
class Charge:
    charge_id: str
    facility_id: str
    encounter: Encounter
    location_id: str
    cdm_code: str
    quantity: int  # base units; negative on a credit
    amount: float
    service_ms: int
    posted_ms: int
    usage_id: str = ""  # "" when the billing system lost it
    control_id: str = ""
    lot: str = ""
    serial: str = ""
    part_of: str = ""
    status: str = "billable"
    visible_ms: int = 0
    # the CDM price per base unit when billing posted this charge off it (the fault
    # cdm_price_drift, simulator.pricing), else 0
    list_price: float = 0.0


@dataclass(slots=True)
class InventoryTxn:
    document_id: str
    facility_id: str
    location_id: str
    item_id: str
    txn_type: str
    quantity: int
    uom: str
    lot: str
    serial: str
    usage_ref: str
    unit_cost: float
    posted_ms: int
    modified_ms: int
    visible_ms: int = 0
    # an ISSUE's contract price per base unit on its day (simulator.pricing), else None
    contract_cost: float | None = None


@dataclass(slots=True)
class RequisitionVersion:
    """One state of a purchase requisition; served while ``modified_ms <= now < hidden_ms``."""

    requisition_id: str
    facility_id: str
    location_id: str
    item_id: str
    quantity: int
    status: str
    created_ms: int
    ordered_ms: int | None
    received_ms: int | None
    modified_ms: int
    hidden_ms: int = NEVER


@dataclass(slots=True)
class Claim:
    claim_id: str
    facility_id: str
    encounter: Encounter
    total: float
    created_ms: int
    charges: list[Charge] = field(default_factory=list)  # the charges it bills (its lines)
    held: bool = False  # billing held it 5-9 days past discharge (the dnfb_hold fault)


@dataclass(slots=True)
class ClaimResponse:
    response_id: str
    claim: Claim
    outcome: str
    payment: float
    last_updated_ms: int


@dataclass(slots=True)
class RemittanceLine:
    """One SVC service line of an 835 claim payment: a claim line (one charge) as paid."""

    line_no: int
    charge: Charge
    procedure_code: str  # SVC01: "HC:<HCPCS>", or "NU:<revenue code>" for a CDM line without
    revenue_code: str
    charge_cents: int
    allowed_cents: int
    paid_cents: int
    control: str  # REF*6R line item control number: the charge id, "" where the payer omits it
    adjustments: list[tuple[str, str, int]] = field(default_factory=list)  # (group, CARC, cents)
    remarks: list[str] = field(default_factory=list)  # LQ*HE RARCs
    cause: str = ""  # a denial's cause upstream that Chargeline can know ("cdm_without_hcpcs")
    # what the payer's contract says the line should pay (None: no contract judges it) and,
    # on a line the ``underpayment`` fault paid short, by how much and under which CARC
    expected_cents: int | None = None
    short_cents: int = 0
    short_carc: str = ""

    @property
    def denied(self) -> bool:
        return self.paid_cents == 0 and any(g == "CO" and r != "45"
                                            for g, r, _ in self.adjustments)


@dataclass(slots=True)
class Remittance:
    """One CLP claim payment of an 835: the payer's answer to a claim, paid on ``paid_ms``
    (the BPR16 effective date, midnight UTC)."""

    claim: Claim
    payer_id: str
    status: str  # CLP02: "1" processed as primary, "4" denied
    payer_claim_id: str  # CLP07
    paid_ms: int
    lines: list[RemittanceLine]
    denial: tuple[str, str] | None = None  # (group, CARC) of a denied claim

    @property
    def charge_cents(self) -> int:
        return sum(line.charge_cents for line in self.lines)

    @property
    def paid_cents(self) -> int:
        return sum(line.paid_cents for line in self.lines)

    @property
    def patient_cents(self) -> int:
        return sum(c for line in self.lines for g, _, c in line.adjustments if g == "PR")
