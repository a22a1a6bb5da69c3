"""The canonical model: the one shape every collector produces and the store keeps.

Each class is one kind of record from PRODUCT.md. Natural keys (``NATURAL_KEYS``) are what
the source system itself uses to identify a record, so re-ingesting it is an update, never
a second row. Times are timezone-aware UTC. Patient identity appears only as
``patient_token`` (see ``core.phi``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import RecordError
from core.localtime import local_date


class ItemClass(StrEnum):
    IMPLANT = "IMPLANT"
    CONSUMABLE = "CONSUMABLE"
    DRUG = "DRUG"


class MessageStatus(StrEnum):
    """Interface-engine message status, as Mirth and its peers name them."""

    RECEIVED = "R"
    FILTERED = "F"
    TRANSFORMED = "T"
    SENT = "S"
    QUEUED = "Q"
    ERROR = "E"


class AckCode(StrEnum):
    AA = "AA"  # application accept
    AE = "AE"  # application error
    AR = "AR"  # application reject


class ChargeStatus(StrEnum):
    POSTED = "posted"
    CREDIT = "credit"  # a reversal: negative quantity, ``reverses_charge_id`` set
    VOIDED = "voided"  # entered in error at the source; never billed


class InventoryTxnType(StrEnum):
    ISSUE = "ISSUE"
    RETURN = "RETURN"
    RECEIPT = "RECEIPT"
    ADJUST = "ADJUST"


class ReplenishmentKind(StrEnum):
    REQUISITION = "REQUISITION"
    PURCHASE_ORDER = "PURCHASE_ORDER"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"  # new records arrived
    NODATA = "nodata"  # the source answered, nothing new: not a failure
    ERROR = "error"  # the source failed: never read as "no data"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone; send ISO 8601 with Z or an offset")
    return value.astimezone(UTC)


class CanonicalRecord(BaseModel):
    """Base of every canonical record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    kind: ClassVar[str]
    natural_key: ClassVar[tuple[str, ...]]

    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.natural_key)

    def ref(self) -> str:
        """A short human reference to this record, for errors and the quarantine."""
        return f"{self.kind} " + "/".join(str(part) for part in self.key())


class _Timestamped(CanonicalRecord):
    @field_validator("*", mode="after")
    @classmethod
    def _times_are_utc(cls, value: Any) -> Any:
        return _utc(value) if isinstance(value, datetime) else value


class Facility(_Timestamped):
    kind = "facility"
    natural_key = ("facility_id",)
    facility_id: str = Field(min_length=1)
    name: str


class Location(_Timestamped):
    kind = "location"
    natural_key = ("location_id",)
    location_id: str = Field(min_length=1)
    facility_id: str
    name: str
    cost_centre: str = ""


class Item(_Timestamped):
    """An ERP item-master row. ``uom`` is the base unit every quantity converts to."""

    kind = "item"
    natural_key = ("item_id",)
    item_id: str = Field(min_length=1)
    description: str
    uom: str = "EA"
    unit_cost: Decimal = Field(ge=0)
    item_class: ItemClass
    chargeable: bool
    serialised: bool = False
    gtin: str = ""
    modified_at: datetime | None = None


class ItemUom(_Timestamped):
    """A unit-of-measure conversion: ``factor`` base units in one ``uom`` (BX = 10 EA)."""

    kind = "item_uom"
    natural_key = ("item_id", "uom")
    item_id: str
    uom: str
    factor: Decimal = Field(gt=0)


class ReorderPoint(_Timestamped):
    kind = "reorder_point"
    natural_key = ("item_id", "location_id")
    item_id: str
    location_id: str
    reorder_point: Decimal = Field(ge=0)
    par_level: Decimal = Field(ge=0)


class CdmEntry(_Timestamped):
    """A charge-master (CDM) line. HCPCS and revenue code may be missing: that is a
    failed mapping the product reports, so the model accepts it."""

    kind = "cdm_entry"
    natural_key = ("cdm_code",)
    cdm_code: str = Field(min_length=1)
    description: str
    hcpcs: str = ""
    revenue_code: str = ""
    price: Decimal = Field(ge=0)


class Crosswalk(_Timestamped):
    kind = "crosswalk"
    natural_key = ("item_id",)
    item_id: str
    cdm_code: str


class ContractPrice(_Timestamped):
    kind = "contract_price"
    natural_key = ("contract_id",)
    contract_id: str
    item_id: str
    supplier: str
    price: Decimal = Field(ge=0)  # per base unit of the item
    valid_from: date
    valid_to: date | None = None
    modified_at: datetime | None = None


class Encounter(_Timestamped):
    kind = "encounter"
    natural_key = ("encounter_id",)
    encounter_id: str
    facility_id: str
    patient_token: str = ""
    encounter_class: str = ""
    procedure_code: str = ""  # the principal procedure (CPT), for margin by procedure
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_updated: datetime | None = None


class UsageEvent(_Timestamped):
    """One supply scan at the point of care (EHR or device tracking)."""

    kind = "usage_event"
    natural_key = ("usage_id",)
    usage_id: str = Field(min_length=1)
    facility_id: str
    location_id: str
    encounter_id: str
    patient_token: str = ""
    item_ref: str  # as scanned: item id or GTIN; may not resolve (a failed mapping)
    quantity: Decimal
    uom: str = "EA"
    lot: str = ""
    serial: str = ""
    udi_di: str = ""  # GS1 (01) device identifier, when the scan was a UDI
    expires_on: date | None = None  # GS1 (17) expiry of the device used, from its UDI
    clinician_id: str = ""
    used_at: datetime
    # the facility's local calendar date of the scan; derived from ``used_at`` when not
    # given (core.localtime)
    used_on: date | None = None
    recorded_at: datetime | None = None
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _local_date_as_written(cls, data: Any) -> Any:
        # A collector's mapping gives used_on (in the facility's zone when configured);
        # a record built otherwise takes the date in the offset its time was written in.
        if isinstance(data, dict) and data.get("used_on") is None and data.get("used_at"):
            day = local_date(data["used_at"])
            if day is not None:
                data = {**data, "used_on": day}
        return data


class InterfaceMessage(_Timestamped):
    """One message through an interface-engine channel, with its acknowledgement."""

    kind = "interface_message"
    # A channel is named per engine: two facilities' DFT_OUT are two channels, and their
    # MSH-10 control ids may repeat. The facility is MSH-4 ("" when the message has none).
    natural_key = ("facility_id", "channel", "control_id")
    channel: str
    control_id: str  # MSH-10
    message_type: str  # e.g. DFT^P03
    facility_id: str = ""
    encounter_id: str = ""
    patient_token: str = ""
    usage_ids: tuple[str, ...] = ()  # FT1-2 of every FT1 segment
    received_at: datetime
    sent_at: datetime | None = None
    status: MessageStatus
    ack_code: AckCode | None = None
    error: str = ""
    resend_of: str = ""  # control id this message re-sends after a NACK


class Charge(_Timestamped):
    """A billing line (FHIR ChargeItem). A credit reverses an earlier charge."""

    kind = "charge"
    natural_key = ("charge_id",)
    charge_id: str = Field(min_length=1)
    facility_id: str
    encounter_id: str
    patient_token: str = ""
    cdm_code: str
    quantity: Decimal
    amount: Decimal
    service_date: date  # the facility's local calendar date of the service
    service_at: datetime | None = None  # the service instant, where the source has one
    posted_at: datetime
    status: ChargeStatus = ChargeStatus.POSTED
    reverses_charge_id: str = ""
    usage_id: str = ""  # source usage reference, when the billing system carries it
    control_id: str = ""  # HL7 MSH-10 of the message it was posted from
    lot: str = ""
    serial: str = ""
    last_updated: datetime


    @field_validator("service_at", mode="before")
    @classmethod
    def _instant_only(cls, value: Any) -> Any:
        # a source that sends the service as a date gives no instant: nothing to compare
        if isinstance(value, str) and len(value.strip()) <= 10:
            return None
        return value


class InventoryTransaction(_Timestamped):
    kind = "inventory_transaction"
    natural_key = ("document_id",)
    document_id: str = Field(min_length=1)
    facility_id: str
    location_id: str
    item_id: str
    txn_type: InventoryTxnType
    quantity: Decimal  # in ``uom``; negative for an issue out of stock
    uom: str = "EA"
    lot: str = ""
    serial: str = ""
    usage_id: str = ""
    unit_cost: Decimal | None = None
    posted_at: datetime  # when the ERP booked the document
    moved_at: datetime | None = None  # when the stock moved, where the ERP says apart
    modified_at: datetime


class ReplenishmentDocument(_Timestamped):
    kind = "replenishment_document"
    natural_key = ("document_id",)
    document_id: str
    doc_kind: ReplenishmentKind
    facility_id: str
    location_id: str
    item_id: str
    quantity: Decimal
    status: str
    created_at: datetime
    ordered_at: datetime | None = None
    received_at: datetime | None = None
    modified_at: datetime


class Claim(_Timestamped):
    """A claim and, once adjudicated, its ClaimResponse outcome."""

    kind = "claim"
    natural_key = ("claim_id",)
    claim_id: str
    facility_id: str
    encounter_id: str
    patient_token: str = ""
    total: Decimal
    status: str
    created_at: datetime
    outcome: str = ""
    paid_amount: Decimal | None = None
    last_updated: datetime


class ClaimLine(_Timestamped):
    """One service line of a claim (FHIR Claim.item, X12 837 LX loop 2400): what it
    bills, and which charge it bills when the source says.

    ``line_control`` is the provider's line item control number (837 REF*6R), the key the
    payer echoes back on the 835 service line it pays; ``charge_id`` the billing system's
    charge (a FHIR ChargeItem) the line was made from, when the source names it."""

    kind = "claim_line"
    natural_key = ("claim_id", "line_no")
    claim_id: str = Field(min_length=1)
    line_no: int = Field(ge=1)  # Claim.item.sequence, LX01
    line_control: str = ""  # REF*6R, or the line's charge reference in a FHIR Claim
    revenue_code: str = ""  # SV201, Claim.item.revenueCode (UB-04 revenue code)
    procedure_code: str = ""  # HCPCS/CPT: SV101-2 / SV202-2, Claim.item.productOrService
    modifiers: str = ""  # comma-separated (SV101-3.., Claim.item.modifier)
    units: Decimal = Decimal(1)  # SV104 / SV205, Claim.item.quantity
    charge_amount: Decimal | None = None  # SV102 / SV203, Claim.item.net (R4: optional)
    service_on: date | None = None  # DTP*472 (its start when a range), Claim.item.servicedDate
    charge_id: str = ""  # the charge it bills, when the source says (not inferred)
    last_updated: datetime


class Remittance(_Timestamped):
    """One claim's payment in a remittance advice (X12 835 CLP loop, or a FHIR
    ClaimResponse/ExplanationOfBenefit): what the payer paid, denied or left to the patient.

    ``status_code`` is CLP02 as X12 writes it: 1/2/3 processed as primary/secondary/
    tertiary, 4 denied, 19/20/21 processed and forwarded, 22 a reversal of an earlier
    payment, 23 not our claim."""

    kind = "remittance"
    natural_key = ("remittance_id",)
    remittance_id: str = Field(min_length=1)  # payment trace (TRN02) + claim + payer claim
    claim_id: str = Field(min_length=1)  # CLP01: the provider's claim (patient control) no.
    facility_id: str = ""
    payer_id: str = ""  # the payer's identifier (N1*PR N104, else TRN03)
    payer_name: str = ""
    status_code: str  # CLP02
    charge_amount: Decimal  # CLP03: what the claim billed
    paid_amount: Decimal  # CLP04
    patient_responsibility: Decimal = Decimal(0)  # CLP05
    payer_claim_id: str = ""  # CLP07: the payer's control number for the claim
    paid_at: datetime  # the payment's effective date (BPR16), as an instant at midnight UTC
    received_at: datetime | None = None  # when the 835 was produced (ISA/GS date-time)
    last_updated: datetime


class RemittanceLine(_Timestamped):
    """One service line of a remittance (835 SVC loop): billed, paid, and which claim line
    it answers (REF*6R line item control number)."""

    kind = "remittance_line"
    natural_key = ("remittance_id", "line_no")
    remittance_id: str = Field(min_length=1)
    line_no: int = Field(ge=1)  # the line's position in its CLP loop
    claim_id: str = Field(min_length=1)
    line_control: str = ""  # REF*6R: the provider's line item control number
    procedure_code: str = ""  # SVC01 as written: qualifier, code, modifiers (HC:27447:RT)
    revenue_code: str = ""  # SVC04, or SVC01-2 when SVC01-1 is NU
    charge_amount: Decimal  # SVC02
    paid_amount: Decimal  # SVC03
    units: Decimal = Decimal(1)  # SVC05
    service_on: date | None = None  # DTM*472 (or 150)
    remark_codes: str = ""  # LQ*HE remittance advice remark codes (RARC), comma-separated
    last_updated: datetime


class RemittanceAdjustment(_Timestamped):
    """One adjustment of a remittance (835 CAS): claim level (``line_no`` 0) or on one
    service line. ``group_code`` CO contractual, PR patient responsibility, OA other, PI
    payer initiated, CR correction; ``reason_code`` a CARC (e.g. 16, 4, 97, 1)."""

    kind = "remittance_adjustment"
    natural_key = ("remittance_id", "line_no", "seq")
    remittance_id: str = Field(min_length=1)
    line_no: int = Field(ge=0)
    seq: int = Field(ge=1)  # the adjustment's order within its claim or line
    claim_id: str = Field(min_length=1)
    group_code: str  # CAS01
    reason_code: str  # CAS02, 05, 08, ... (a CARC)
    amount: Decimal
    quantity: Decimal | None = None
    last_updated: datetime


# A channel's state as the store keeps it, whichever engine reported it ("" when the
# source does not say): the engines' own words are mapped by ``channel_state``.
CHANNEL_STATES = ("started", "paused", "stopped", "error", "deploying", "undeployed",
                  "unknown")
_ENGINE_STATES = {
    # NextGen Connect (Mirth) DeployedState; a channel on its way somewhere counts as there
    "STARTED": "started", "STARTING": "deploying", "DEPLOYING": "deploying",
    "SYNCING": "deploying", "PAUSED": "paused", "PAUSING": "paused",
    "STOPPED": "stopped", "STOPPING": "stopped", "UNDEPLOYED": "undeployed",
    "UNDEPLOYING": "undeployed",
    # Rhapsody: a RETRYING point runs and retries its connection (its queue waits)
    "RUNNING": "started", "RETRYING": "started", "ERROR": "error",
}


def channel_state(word: str | None) -> str:
    """The store's word for an engine's channel state: ``STARTED``/``RUNNING`` ->
    started, ``PAUSED`` -> paused, ``STOPPED`` -> stopped, ... ('' for none, ``unknown``
    for a word no engine we read uses)."""
    word = (word or "").strip()
    if not word:
        return ""
    if word.lower() in CHANNEL_STATES:
        return word.lower()
    return _ENGINE_STATES.get(word.upper(), "unknown")


class ChannelStats(_Timestamped):
    """One snapshot of an interface-engine channel's counters (since engine start), its
    state and how many of its connectors have messages waiting."""

    kind = "channel_stats"
    natural_key = ("facility_id", "channel", "observed_at")
    channel: str
    facility_id: str = ""
    observed_at: datetime
    received: int = Field(ge=0)
    filtered: int = Field(ge=0)
    queued: int = Field(ge=0)
    sent: int = Field(ge=0)
    errored: int = Field(ge=0)
    oldest_queued_at: datetime | None = None
    state: str = ""  # CHANNEL_STATES, or '' when the source does not say
    waiting_connectors: int = Field(default=0, ge=0)

    @field_validator("state", mode="before")
    @classmethod
    def _engine_word(cls, value: Any) -> Any:
        return channel_state(value) if isinstance(value, str) or value is None else value


RECORD_TYPES: tuple[type[CanonicalRecord], ...] = (
    Facility,
    Location,
    Item,
    ItemUom,
    ReorderPoint,
    CdmEntry,
    Crosswalk,
    ContractPrice,
    Encounter,
    UsageEvent,
    InterfaceMessage,
    Charge,
    InventoryTransaction,
    ReplenishmentDocument,
    Claim,
    ClaimLine,
    ChannelStats,
)
RECORD_TYPE_BY_KIND: dict[str, type[CanonicalRecord]] = {t.kind: t for t in RECORD_TYPES}

R = TypeVar("R", bound=CanonicalRecord)


def build_record(record_type: type[R], data: dict[str, Any], *, where: str = "") -> R:
    """Validate ``data`` into ``record_type``; a failure raises ``RecordError`` that names
    the record (its natural key when present) and every bad field."""
    try:
        return record_type.model_validate(data)
    except ValidationError as exc:
        key = "/".join(str(data.get(name, "?")) for name in record_type.natural_key)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(record)'}: {err['msg']}"
            for err in exc.errors()
        )
        place = f" at {where}" if where else ""
        raise RecordError(
            f"{record_type.kind} {key}{place}: {problems}", position=where
        ) from None
