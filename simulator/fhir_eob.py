"""A remittance as a FHIR R4 ExplanationOfBenefit: the payer's adjudication of one claim
and its payment, element for element what the 835 claim payment (simulator.x12_835) says.

Shaped after the CARIN Blue Button institutional EOB (hl7.org/fhir/us/carin-bb):

- ``identifier`` the payer's claim control number (type ``uc``, the 835's CLP07);
  ``claim`` the Claim it answers (CLP01); ``insurer`` the payer id (identifier) and name
  (display); ``provider`` the facility; ``outcome`` ``error`` for a claim denied whole
  (CLP02 4), else ``complete``;
- ``payment``: ``date`` the effective date (BPR16), ``amount`` (CLP04) and
  ``identifier`` the payment's trace number (TRN02), the same as in the 835;
- each ``item`` a service line (SVC): ``sequence`` its place, ``revenue``,
  ``productOrService`` (HCPCS; a CDM line without HCPCS has none, only its revenue
  code), ``quantity``, ``net`` (the charge), ``servicedDate`` (DTM*472, the payer's
  calendar like the 835), and ``adjudication``: ``submitted``, ``eligible`` (allowed),
  ``paidtoprovider``, and one entry per adjustment (CAS) with its CARC in ``reason``
  (code system https://x12.org/codes/claim-adjustment-reason-codes) and its group code in
  the extension ``urn:chargeline:adjustment-group``: ``deductible`` (PR-1),
  ``coinsurance`` (PR-2), ``discount`` (CO-45, the contractual allowance),
  ``denialreason`` (any on a denied line), ``memberliability`` (another PR) or
  ``noncovered`` (another cut of a line that still pays); the line item control number
  (REF*6R: R4 and CARIN have no element for the provider's line number) in the extension
  ``urn:chargeline:line-control``, as Chargeline's Claim lines carry it, and each remark
  code (LQ*HE) as an extension ``urn:chargeline:remark-code`` (valueCoding, RARC);
- ``total``: submitted, eligible, benefit (paid) and memberliability (CLP05).

The patient's name and MRN are in the payload, as in every resource of the estate: the
collector never reads them.
"""

from __future__ import annotations

from typing import Any

from simulator.fhir import TimeWriter, patient_reference
from simulator.payers import BY_ID
from simulator.records import Remittance, RemittanceLine
from simulator.timefmt import day_stamp, iso
from simulator.x12_835 import READY_DELAY, trace_number

EXT = "urn:chargeline:"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
C4BB_DISCRIMINATOR = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"
_CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
_IDENTIFIER_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
# an adjustment's adjudication category, by (group, CARC); any other is a denial
_CATEGORY = {("PR", "1"): (ADJUDICATION, "deductible"),
             ("PR", "2"): (C4BB_ADJUDICATION, "coinsurance"),
             ("CO", "45"): (C4BB_ADJUDICATION, "discount")}
_DENIAL = (C4BB_DISCRIMINATOR, "denialreason")  # on a line the payer denied
_MEMBER = (C4BB_ADJUDICATION, "memberliability")  # another patient share
_REDUCED = (C4BB_ADJUDICATION, "noncovered")  # another cut of a line that still pays


def eob_id(r: Remittance) -> str:
    """The resource id: one EOB per claim payment (the payer's claim control number)."""
    return f"eob-{r.payer_claim_id}"


def eob_ready_ms(r: Remittance) -> int:
    """When the payer publishes the EOB: when its 835 file is ready."""
    return r.paid_ms + READY_DELAY


def _money(cents: int) -> dict[str, Any]:
    return {"value": cents / 100, "currency": "USD"}


def _category(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _adjudication(system: str, code: str, cents: int) -> dict[str, Any]:
    return {"category": _category(system, code), "amount": _money(cents)}


def _adjustment(group: str, reason: str, cents: int, denied: bool) -> dict[str, Any]:
    system, code = _CATEGORY.get((group, reason)) or (
        _DENIAL if denied else _MEMBER if group == "PR" else _REDUCED)
    return {"extension": [{"url": EXT + "adjustment-group", "valueCode": group}],
            "category": _category(system, code),
            "reason": {"coding": [{"system": CARC, "code": reason}]},
            "amount": _money(cents)}


def _item(line: RemittanceLine) -> dict[str, Any]:
    charge = line.charge
    qualifier, _, code = line.procedure_code.partition(":")
    extensions = [{"url": EXT + "line-control", "valueString": line.control}
                  ] if line.control else []
    extensions += [{"url": EXT + "remark-code", "valueCoding": {"system": RARC, "code": m}}
                   for m in line.remarks]
    item: dict[str, Any] = {"sequence": line.line_no}
    if extensions:
        item["extension"] = extensions
    item.update({
        "revenue": {"coding": [{"system": REVENUE, "code": line.revenue_code}]},
        # R4 requires productOrService: a line without HCPCS names its revenue code
        "productOrService": ({"coding": [{"system": HCPCS, "code": code}]} if qualifier == "HC"
                             else {"text": f"revenue code {line.revenue_code}"}),
        "servicedDate": _date(charge.service_ms),
        "quantity": {"value": charge.quantity},
        "net": _money(line.charge_cents),
    })
    adjudication = [_adjudication(ADJUDICATION, "submitted", line.charge_cents)]
    if line.allowed_cents:
        adjudication.append(_adjudication(ADJUDICATION, "eligible", line.allowed_cents))
    adjudication.append(_adjudication(C4BB_ADJUDICATION, "paidtoprovider", line.paid_cents))
    adjudication += [_adjustment(*adjustment, line.denied) for adjustment in line.adjustments]
    item["adjudication"] = adjudication
    return item


def _date(ms: int) -> str:
    stamp = day_stamp(ms)
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"


def explanation_of_benefit(r: Remittance, ts: TimeWriter = iso) -> dict[str, Any]:
    """The EOB of one claim payment (see the module docstring)."""
    claim, payer = r.claim, BY_ID[r.payer_id]
    enc = claim.encounter
    ready = ts(eob_ready_ms(r))
    allowed = sum(line.allowed_cents for line in r.lines)
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": eob_id(r),
        "meta": {"lastUpdated": ready},
        "identifier": [{"type": _category(_IDENTIFIER_TYPE, "uc"),
                        "system": f"urn:payer:{payer.payer_id}:claim",
                        "value": r.payer_claim_id}],
        "status": "active",
        "type": _category(_CLAIM_TYPE, "institutional"),
        "use": "claim",
        "patient": patient_reference(enc.patient, claim.facility_id),
        "billablePeriod": {"start": ts(enc.start_ms), "end": ts(enc.end_ms)},
        "created": ready,
        "insurer": {"identifier": {"value": payer.payer_id}, "display": payer.name},
        "provider": {"identifier": {"value": claim.facility_id}},
        "claim": {"reference": f"Claim/{claim.claim_id}"},
        "outcome": "error" if r.status == "4" else "complete",
        "insurance": [{"focal": True, "coverage": {"display": payer.name}}],
        "item": [_item(line) for line in r.lines],
        "total": [_adjudication(ADJUDICATION, "submitted", r.charge_cents),
                  _adjudication(ADJUDICATION, "eligible", allowed),
                  _adjudication(ADJUDICATION, "benefit", r.paid_cents),
                  _adjudication(C4BB_ADJUDICATION, "memberliability", r.patient_cents)],
        "payment": {
            "type": _category("http://terminology.hl7.org/CodeSystem/ex-paymenttype",
                              "complete"),
            "date": _date(r.paid_ms),
            "amount": _money(r.paid_cents),
            "identifier": {"system": f"urn:payer:{payer.payer_id}:trace",
                           "value": trace_number(payer.payer_id, r.paid_ms,
                                                 claim.facility_id)},
        },
    }
