"""FHIR R4 resources of the billing system and the EHR, per docs/wire-formats.md.

Patient names, MRNs and birth dates are in these payloads on purpose: the collectors
must tokenise or drop them. Every resource validates against the R4 models
(``fhir.resources.R4B``), which the collectors check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.records import (
    CdmEntry,
    Charge,
    Claim,
    ClaimResponse,
    Encounter,
    Patient,
    Usage,
)
from simulator.timefmt import iso
from simulator.udi_scans import udi_scan

_EXT = "urn:chargeline:"
_CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
_ENC_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS_NAMES = {"IMP": "inpatient encounter", "AMB": "ambulatory", "EMER": "emergency"}
_PAYERS = ("Blue Shield of the Valley", "Medicare Part A", "Aetna Commercial", "Medicaid")
# How a resource writes a time (epoch ms): ``iso`` (UTC ``Z``) unless a rendering says
# otherwise (simulator.rendering: the facility's local offset).
TimeWriter = Callable[[int], str]


def _patient(p: Patient, facility_id: str, reference: bool = True) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    if reference:
        ref["reference"] = f"Patient/{p.patient_id}"
    ref["identifier"] = {"system": f"urn:mrn:{facility_id}", "value": p.mrn}
    ref["display"] = f"{p.family}, {p.given}"
    return ref


def patient_reference(p: Patient, facility_id: str) -> dict[str, Any]:
    """The patient as a billing resource names them (reference, MRN, name)."""
    return _patient(p, facility_id)


def _ext(name: str, value: str) -> dict[str, str]:
    return {"url": _EXT + name, "valueString": value}


def charge_item(c: Charge, ts: TimeWriter = iso, links: bool = True,
                unit_price: bool = False) -> dict[str, Any]:
    """A billing line; a credit has ``partOf``, negative quantity and amount. Without
    ``links`` the usage-id and hl7-control-id extensions are left out (a billing system
    that does not carry them); ``unit_price`` sends the price of one unit instead of
    the line total (the same for a quantity of 1)."""
    res: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": c.charge_id,
        "meta": {"lastUpdated": ts(c.posted_ms)},
        "identifier": [{"system": _EXT + "charge", "value": c.charge_id}],
        "status": c.status,
    }
    if c.part_of:
        res["partOf"] = [{"reference": f"ChargeItem/{c.part_of}"}]
    res.update({
        "code": {"coding": [{"system": _EXT + "cdm", "code": c.cdm_code}]},
        "subject": _patient(c.encounter.patient, c.facility_id),
        "context": {"reference": f"Encounter/{c.encounter.encounter_id}"},
        "occurrenceDateTime": ts(c.service_ms),
        "enteredDate": ts(c.posted_ms),
        "quantity": {"value": c.quantity, "unit": "EA"},
        "priceOverride": {"value": _unit(c) if unit_price else c.amount, "currency": "USD"},
        "costCenter": {"identifier": {"value": c.location_id}},
    })
    ext = []
    if c.usage_id and links:
        ext.append(_ext("usage-id", c.usage_id))
    if c.control_id and links:
        ext.append(_ext("hl7-control-id", c.control_id))
    if c.lot:
        ext.append(_ext("lot", c.lot))
    if c.serial:
        ext.append(_ext("serial", c.serial))
    if ext:
        res["extension"] = ext
    return res


def _unit(c: Charge) -> float:
    """The price of one unit, to the cent (a credit's is positive: both signs flip)."""
    return round(c.amount / c.quantity, 2) if c.quantity else c.amount


def encounter(version: tuple[Encounter, int], ts: TimeWriter = iso) -> dict[str, Any]:
    """Version 1 at registration (in progress), version 2 at discharge (finished)."""
    enc, number = version
    period = {"start": ts(enc.start_ms)}
    if number == 2:
        period["end"] = ts(enc.end_ms)
    return {
        "resourceType": "Encounter",
        "id": enc.encounter_id,
        "meta": {"lastUpdated": ts(encounter_updated(enc, number)), "versionId": str(number)},
        "status": "finished" if number == 2 else "in-progress",
        "class": {"system": _ENC_CLASS, "code": enc.encounter_class,
                  "display": _CLASS_NAMES[enc.encounter_class]},
        "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": enc.cpt}]}],
        "subject": _patient(enc.patient, enc.facility_id),
        "period": period,
        "location": [{"location": {"identifier": {"value": enc.location_id}}}],
        "serviceProvider": {"identifier": {"value": enc.facility_id}},
    }


def encounter_updated(enc: Encounter, number: int) -> int:
    """When version ``number`` of an encounter was written (registration or discharge)."""
    return enc.last_updated_ms if number == 1 else enc.end_ms + 90_000


def claim_item(n: int, charge: Charge, cdm: CdmEntry | None, ts: TimeWriter = iso,
               linked: bool = True) -> dict[str, Any]:
    """Claim line ``n``: the charge it bills (revenue code, HCPCS from its CDM line, units,
    unit price and net, the service date in the facility's calendar) and, when ``linked``,
    the ChargeItem it was made from (extension urn:chargeline:charge-item). A CDM line
    without HCPCS gives no procedure code (productOrService as text only)."""
    hcpcs = cdm.hcpcs if cdm else ""
    product: dict[str, Any] = (
        {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                     "code": hcpcs}]} if hcpcs
        else {"text": cdm.description if cdm else charge.cdm_code})
    item: dict[str, Any] = {"sequence": n}
    if linked:
        item["extension"] = [{"url": _EXT + "charge-item",
                              "valueReference": {"reference": f"ChargeItem/{charge.charge_id}"}}]
    if cdm and cdm.revenue_code:
        item["revenue"] = {"coding": [{"system": "https://www.nubc.org/CodeSystem/RevenueCodes",
                                       "code": cdm.revenue_code}]}
    item.update({
        "productOrService": product,
        "servicedDate": ts(charge.service_ms)[:10],
        "quantity": {"value": charge.quantity},
        "unitPrice": {"value": _unit(charge), "currency": "USD"},
        "net": {"value": charge.amount, "currency": "USD"},
        "encounter": [{"reference": f"Encounter/{charge.encounter.encounter_id}"}],
    })
    return item


def claim(c: Claim, ts: TimeWriter = iso, cdm: dict[str, CdmEntry] | None = None,
          linked: Callable[[str], bool] = lambda _charge_id: True) -> dict[str, Any]:
    """An institutional claim for one encounter: one item per charge it bills (its
    lines), or, for a claim without lines, one item for the encounter's procedure."""
    enc = c.encounter
    items = [claim_item(n, charge, (cdm or {}).get(charge.cdm_code), ts,
                        linked(charge.charge_id))
             for n, charge in enumerate(c.charges, 1)]
    return {
        "resourceType": "Claim",
        "id": c.claim_id,
        "meta": {"lastUpdated": ts(c.created_ms)},
        "status": "active",
        "type": {"coding": [{"system": _CLAIM_TYPE, "code": "institutional"}]},
        "use": "claim",
        "patient": _patient(enc.patient, c.facility_id),
        "created": ts(c.created_ms),
        "provider": {"identifier": {"value": c.facility_id}},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": {"display": _PAYERS[len(enc.patient.mrn) % 4]}}],
        "item": items or [{
            "sequence": 1,
            "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                             "code": enc.cpt}]},
            "encounter": [{"reference": f"Encounter/{enc.encounter_id}"}],
            "net": {"value": c.total, "currency": "USD"}}],
        "total": {"value": c.total, "currency": "USD"},
    }


def claim_response(r: ClaimResponse, ts: TimeWriter = iso) -> dict[str, Any]:
    """The payer's adjudication of a claim."""
    c = r.claim
    return {
        "resourceType": "ClaimResponse",
        "id": r.response_id,
        "meta": {"lastUpdated": ts(r.last_updated_ms)},
        "status": "active",
        "type": {"coding": [{"system": _CLAIM_TYPE, "code": "institutional"}]},
        "use": "claim",
        "patient": _patient(c.encounter.patient, c.facility_id),
        "created": ts(r.last_updated_ms),
        "insurer": {"display": _PAYERS[len(c.encounter.patient.mrn) % 4]},
        "request": {"reference": f"Claim/{c.claim_id}"},
        "outcome": r.outcome,
        "payment": {"type": {"coding": [{"code": "complete"}]},
                    "amount": {"value": r.payment, "currency": "USD"}},
    }


def supply_delivery(u: Usage, ts: TimeWriter = iso) -> dict[str, Any]:
    """One scan at the point of care (``supplier`` is a list, as the contract says)."""
    ext = [_ext("encounter", u.encounter.encounter_id), _ext("facility", u.facility_id)]
    udi = udi_scan(u)  # an implant scanned as its GS1 UDI carries lot and serial in it
    if u.lot and udi is None:
        ext.append(_ext("lot", u.lot))
    if u.serial and udi is None:
        ext.append(_ext("serial", u.serial))
    code = udi.text if udi is not None else u.item_ref
    return {
        "resourceType": "SupplyDelivery",
        "id": u.usage_id,
        "meta": {"lastUpdated": ts(u.recorded_ms)},
        "identifier": [{"system": _EXT + "usage", "value": u.usage_id}],
        "status": "completed",
        "patient": _patient(u.encounter.patient, u.facility_id, reference=False),
        "suppliedItem": {
            "quantity": {"value": u.quantity, "unit": u.uom},
            "itemCodeableConcept": {"coding": [{"system": _EXT + "item", "code": code}]},
        },
        "occurrenceDateTime": ts(u.used_ms),
        "destination": {"identifier": {"value": u.location_id}},
        "supplier": [{"identifier": {"value": u.clinician}}],
        "extension": ext,
    }
