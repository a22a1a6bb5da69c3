"""Small factories for canonical records, and one estate holding every trap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.model import (
    CdmEntry,
    Charge,
    ChargeStatus,
    Crosswalk,
    Encounter,
    Facility,
    InterfaceMessage,
    InventoryTransaction,
    InventoryTxnType,
    Item,
    ItemClass,
    ItemUom,
    Location,
    MessageStatus,
    UsageEvent,
)

T0 = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
FAC, LOC = "FAC01", "FAC01-OR1"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def usage(uid: str, item: str, minute: float, *, qty: int = 1, uom: str = "EA",
          enc: str = "ENC1", serial: str = "") -> UsageEvent:
    return UsageEvent(usage_id=uid, facility_id=FAC, location_id=LOC, encounter_id=enc,
                      item_ref=item, quantity=Decimal(qty), uom=uom, serial=serial,
                      used_at=at(minute))


def charge(cid: str, cdm: str, minute: float, *, qty: int = 1, amount: float = 0,
           uid: str = "", control: str = "", enc: str = "ENC1", reverses: str = "",
           serial: str = "", used_minute: float | None = None) -> Charge:
    service = at(used_minute if used_minute is not None else minute).date()
    status = ChargeStatus.CREDIT if reverses else ChargeStatus.POSTED
    return Charge(charge_id=cid, facility_id=FAC, encounter_id=enc, cdm_code=cdm,
                  quantity=Decimal(qty), amount=Decimal(str(amount)), service_date=service,
                  posted_at=at(minute), status=status, reverses_charge_id=reverses,
                  usage_id=uid, control_id=control, serial=serial, last_updated=at(minute))


def issue(doc: str, item: str, minute: float, *, qty: int = 1, uom: str = "EA",
          uid: str = "") -> InventoryTransaction:
    return InventoryTransaction(document_id=doc, facility_id=FAC, location_id=LOC,
                                item_id=item, txn_type=InventoryTxnType.ISSUE,
                                quantity=Decimal(qty), uom=uom, usage_id=uid,
                                posted_at=at(minute), modified_at=at(minute))


def message(control: str, minute: float, usage_ids: tuple[str, ...], *, enc: str = "ENC1",
            ack: str = "AA") -> InterfaceMessage:
    return InterfaceMessage(channel="FAC01_CHG_OUT", control_id=control,
                            message_type="DFT^P03", facility_id=FAC, encounter_id=enc,
                            usage_ids=usage_ids, received_at=at(minute),
                            sent_at=at(minute + 0.5), status=MessageStatus.SENT,
                            ack_code=ack)  # type: ignore[arg-type]


def master_data() -> list[Any]:
    """Items: IMP1 serialised implant; CON1 consumable with BX=10; IMP2 no crosswalk;
    CON2 whose CDM lacks HCPCS; DRG1 not chargeable."""
    def item(iid: str, cls: ItemClass, cost: str, *, chargeable: bool = True,
             serialised: bool = False) -> Item:
        return Item(item_id=iid, description=iid, unit_cost=Decimal(cost), item_class=cls,
                    chargeable=chargeable, serialised=serialised)

    return [
        Facility(facility_id=FAC, name="General"),
        Location(location_id=LOC, facility_id=FAC, name="OR 1"),
        item("IMP1", ItemClass.IMPLANT, "500", serialised=True),
        item("CON1", ItemClass.CONSUMABLE, "2"),
        item("IMP2", ItemClass.IMPLANT, "300"),
        item("CON2", ItemClass.CONSUMABLE, "4"),
        item("DRG1", ItemClass.DRUG, "1", chargeable=False),
        ItemUom(item_id="CON1", uom="BX", factor=Decimal(10)),
        CdmEntry(cdm_code="C1", description="implant", hcpcs="C1713", revenue_code="278",
                 price=Decimal("1250")),
        CdmEntry(cdm_code="C2", description="supply", hcpcs="A4649", revenue_code="270",
                 price=Decimal("5")),
        CdmEntry(cdm_code="C3", description="no hcpcs", hcpcs="", revenue_code="270",
                 price=Decimal("20")),
        Crosswalk(item_id="IMP1", cdm_code="C1"),
        Crosswalk(item_id="CON1", cdm_code="C2"),
        Crosswalk(item_id="CON2", cdm_code="C3"),
        Encounter(encounter_id="ENC1", facility_id=FAC, procedure_code="27447"),
        Encounter(encounter_id="ENC2", facility_id=FAC, procedure_code="27130"),
    ]


def trap_estate() -> list[Any]:
    """Every trap and fault once, with the expected outcome in ``EXPECTED``."""
    r: list[Any] = []
    # u1: clean implant: message, charge on time, issue.
    r += [usage("u1", "IMP1", 0, serial="S1"), message("M1", 1, ("u1",)),
          charge("c1", "C1", 10, amount=1250, uid="u1", control="M1", serial="S1"),
          issue("i1", "IMP1", 20, uid="u1")]
    # u2/u3: two distinct scans of one consumable, one message with two FT1s.
    r += [usage("u2", "CON1", 5), usage("u3", "CON1", 6), message("M2", 7, ("u2", "u3")),
          charge("c2", "C2", 15, amount=5, uid="u2", control="M2"),
          charge("c3", "C2", 15, amount=5, uid="u3", control="M2"),
          issue("i2", "CON1", 20, uid="u2"), issue("i3", "CON1", 20, uid="u3")]
    # u4: charge, reversal, re-charge.
    r += [usage("u4", "IMP1", 30, serial="S4"),
          charge("c4a", "C1", 35, amount=1250, uid="u4", serial="S4"),
          charge("c4b", "C1", 40, qty=-1, amount=-1250, uid="u4", reverses="c4a",
                 serial="S4", used_minute=30),
          charge("c4c", "C1", 45, amount=1250, uid="u4", serial="S4", used_minute=30),
          issue("i4", "IMP1", 50, uid="u4")]
    # u5: 2 BX charged as 20 EA, issued as 2 BX.
    r += [usage("u5", "CON1", 60, qty=2, uom="BX"),
          charge("c5", "C2", 70, qty=20, amount=100, uid="u5"),
          issue("i5", "CON1", 75, qty=2, uom="BX", uid="u5")]
    # u6: late implant charge (SLA 120 min).
    r += [usage("u6", "IMP1", 80, serial="S6"),
          charge("c6", "C1", 80 + 200, amount=1250, uid="u6", used_minute=80),
          issue("i6", "IMP1", 90, uid="u6")]
    # u7: missing charge.
    r += [usage("u7", "IMP1", 100, serial="S7"), issue("i7", "IMP1", 110, uid="u7")]
    # u8: the same usage charged twice.
    r += [usage("u8", "IMP1", 120, serial="S8"),
          charge("c8a", "C1", 125, amount=1250, uid="u8", serial="S8"),
          charge("c8b", "C1", 126, amount=1250, uid="u8", serial="S8"),
          issue("i8", "IMP1", 130, uid="u8")]
    # u9 unknown item; u10 no crosswalk (issued); u11 CDM without HCPCS (charged);
    # u12 unit that does not convert.
    r += [usage("u9", "NOPE-1", 140), usage("u10", "IMP2", 141),
          issue("i10", "IMP2", 150, uid="u10"), usage("u11", "CON2", 142),
          charge("c11", "C3", 150, amount=20, uid="u11"), issue("i11", "CON2", 150, uid="u11"),
          usage("u12", "CON1", 143, uom="CS")]
    # u13: charged, never issued.
    r += [usage("u13", "CON1", 160), charge("c13", "C2", 170, amount=5, uid="u13")]
    # u15a/b: one serial scanned twice (two usages), both charged.
    r += [usage("u15a", "IMP1", 180, enc="ENC2", serial="SX"),
          usage("u15b", "IMP1", 181, enc="ENC2", serial="SX"),
          charge("c15a", "C1", 185, amount=1250, uid="u15a", enc="ENC2", serial="SX"),
          charge("c15b", "C1", 186, amount=1250, uid="u15b", enc="ENC2", serial="SX"),
          issue("i15a", "IMP1", 190, uid="u15a"), issue("i15b", "IMP1", 190, uid="u15b")]
    # u16: the billing system lost the usage id but kept the control id.
    r += [usage("u16", "CON1", 200, enc="ENC2"), message("M16", 201, ("u16",), enc="ENC2"),
          charge("c16", "C2", 210, amount=5, control="M16", enc="ENC2"),
          issue("i16", "CON1", 215, uid="u16")]
    # u17: no keys at all: fallback (encounter + CDM + service date); unreferenced issue.
    r += [usage("u17", "CON1", 220, enc="ENC2"),
          charge("c17", "C2", 230, amount=5, enc="ENC2"), issue("i17", "CON1", 240)]
    # The feeds caught up well past every SLA.
    r += [charge("cz", "C2", 2000, amount=5, enc="ENC9"), issue("iz", "DRG1", 2000)]
    return r


EXPECTED = {
    "missing_charge": {"u7"},
    "late_charge": {"u6"},
    "missing_inventory_issue": {"u13"},
    "unknown_item": {"NOPE-1"},
    "no_crosswalk": {"IMP2"},
    "cdm_without_hcpcs": {"C3"},
    "unit_not_convertible": {"CON1/CS"},
    "duplicate_charge": {"c8a", "c15a"},
}
