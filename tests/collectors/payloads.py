"""Recorded payloads, hand-written to the wire-format contract (docs/wire-formats.md)."""

from __future__ import annotations

import copy
from typing import Any

CHARGE_ITEM: dict[str, Any] = {
    "resourceType": "ChargeItem", "id": "CHG-FAC01-0000123",
    "meta": {"lastUpdated": "2026-11-18T10:16:01.000Z"},
    "identifier": [{"system": "urn:chargeline:charge", "value": "CHG-FAC01-0000123"}],
    "status": "billable",
    "code": {"coding": [{"system": "urn:chargeline:cdm", "code": "2780001713"}]},
    "subject": {"reference": "Patient/p-1",
                "identifier": {"system": "urn:mrn:FAC01", "value": "MRN0012345"},
                "display": "DOE, JANE"},
    "context": {"reference": "Encounter/ENC-FAC01-000045"},
    "occurrenceDateTime": "2026-11-18T10:15:00.000Z",
    "enteredDate": "2026-11-18T10:16:01.000Z",
    "quantity": {"value": 1, "unit": "EA"},
    "priceOverride": {"value": 1250.00, "currency": "USD"},
    "costCenter": {"identifier": {"value": "FAC01-OR1"}},
    "extension": [
        {"url": "urn:chargeline:usage-id", "valueString": "U-FAC01-0000345"},
        {"url": "urn:chargeline:hl7-control-id", "valueString": "MSG-FAC01-0000345"},
        {"url": "urn:chargeline:lot", "valueString": "LOT2311A"},
        {"url": "urn:chargeline:serial", "valueString": "SN000123"},
    ],
}

SUPPLY_DELIVERY: dict[str, Any] = {
    "resourceType": "SupplyDelivery", "id": "U-FAC01-0000345",
    "meta": {"lastUpdated": "2026-11-18T10:15:02.000Z"},
    "identifier": [{"system": "urn:chargeline:usage", "value": "U-FAC01-0000345"}],
    "status": "completed",
    "patient": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN0012345"},
                "display": "DOE, JANE"},
    "suppliedItem": {"quantity": {"value": 2, "unit": "BX"},
                     "itemCodeableConcept": {"coding": [
                         {"system": "urn:chargeline:item", "code": "ITM-100234"}]}},
    "occurrenceDateTime": "2026-11-18T10:15:00.000Z",
    "destination": {"identifier": {"value": "FAC01-OR1"}},
    "supplier": [{"identifier": {"value": "CLIN-0042"}}],
    "extension": [
        {"url": "urn:chargeline:encounter", "valueString": "ENC-FAC01-000045"},
        {"url": "urn:chargeline:facility", "valueString": "FAC01"},
        {"url": "urn:chargeline:lot", "valueString": "LOT2311A"},
        {"url": "urn:chargeline:serial", "valueString": "SN000123"},
    ],
}

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter", "id": "ENC-FAC01-000045",
    "meta": {"lastUpdated": "2026-11-18T09:00:00.000Z"}, "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "subject": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN0012345"},
                "display": "DOE, JANE"},
    "serviceProvider": {"identifier": {"value": "FAC01"}},
    "period": {"start": "2026-11-18T08:00:00.000Z", "end": "2026-11-19T08:00:00.000Z"},
    "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "27447"}]}],
}

CLAIM: dict[str, Any] = {
    "resourceType": "Claim", "id": "CLM-FAC01-0001",
    "meta": {"lastUpdated": "2026-11-19T09:00:00.000Z"}, "status": "active",
    "type": {"coding": [{"code": "institutional"}]}, "use": "claim",
    "created": "2026-11-19T09:00:00.000Z",
    "patient": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN0012345"}},
    "provider": {"identifier": {"value": "FAC01"}},
    "priority": {"coding": [{"code": "normal"}]},
    "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
    "item": [{"sequence": 1, "productOrService": {"coding": [{"code": "2780001713"}]},
              "encounter": [{"reference": "Encounter/ENC-FAC01-000045"}]}],
    "total": {"value": 1250.0, "currency": "USD"},
}

CLAIM_RESPONSE: dict[str, Any] = {
    "resourceType": "ClaimResponse", "id": "CLR-FAC01-0001",
    "meta": {"lastUpdated": "2026-11-20T09:00:00.000Z"}, "status": "active",
    "type": {"coding": [{"code": "institutional"}]}, "use": "claim",
    "patient": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN0012345"}},
    "created": "2026-11-20T09:00:00.000Z", "insurer": {"display": "Payer"},
    "request": {"reference": "Claim/CLM-FAC01-0001"}, "outcome": "complete",
    "payment": {"type": {"coding": [{"code": "complete"}]},
                "amount": {"value": 1000.0, "currency": "USD"}},
}

INVENTORY_ROW: dict[str, Any] = {
    "DocumentId": "INV-FAC01-000001", "FacilityId": "FAC01", "LocationId": "FAC01-OR1",
    "ItemId": "ITM-100234", "TransactionType": "ISSUE", "Quantity": 2, "Uom": "EA",
    "Lot": "LOT2311A", "Serial": "", "UsageRef": "U-FAC01-0000345", "UnitCost": 12.5,
    "PostedAt": "2026-11-18T11:00:00.000Z", "ModifiedAt": "2026-11-18T11:00:00.000Z",
}

DFT = (
    "MSH|^~\\&|EHR|FAC01|BILLING|FAC01|20261118101532.123+0000||DFT^P03|MSG-FAC01-0000345|P|2.5\r"
    "EVN|P03|20261118101532.123+0000\r"
    "PID|1||MRN0012345^^^FAC01^MR||DOE^JANE||19700101|F\r"
    "PV1|1|I|FAC01-OR1||||||||||||||||ENC-FAC01-000045\r"
    "FT1|1|U-FAC01-0000345||20261118101500.000+0000||CG|2780001713|||2|25.00||FAC01-OR1\r"
    "ZUS|1|U-FAC01-0000345|ITM-100234|EA|LOT2311A|SN000123\r"
)
ACK = (
    "MSH|^~\\&|BILLING|FAC01|EHR|FAC01|20261118101533.500+0000||ACK^P03|ACK-FAC01-0000345|P|2.5\r"
    "MSA|{code}|MSG-FAC01-0000345|{text}\r"
)


def dft(n: int, usage: str | None = None) -> str:
    """The recorded DFT with control id / usage number ``n``."""
    text = DFT.replace("0000345", f"{n:07d}")
    return text.replace(f"U-FAC01-{n:07d}", usage) if usage else text


def ack(n: int, code: str = "AA", text: str = "") -> str:
    return ACK.replace("0000345", f"{n:07d}").format(code=code, text=text)


def resource(template: dict[str, Any], n: int, updated: str | None = None) -> dict[str, Any]:
    """A copy of ``template`` whose ids end in ``n`` (and a given lastUpdated)."""
    out = copy.deepcopy(template)
    suffix = f"{n:07d}"
    out["id"] = out["id"].rsplit("-", 1)[0] + "-" + suffix
    if out.get("identifier"):
        out["identifier"][0]["value"] = out["id"]
    if updated:
        out["meta"]["lastUpdated"] = updated
    return out
