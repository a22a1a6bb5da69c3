"""FHIR R4 ExplanationOfBenefit -> remittance, remittance lines and adjustments, through
the billing mapping (collectors/fhir_remittance.py): the key, CLP02-like status, amounts
by adjudication category, CARC adjustments with their group, remark codes, the line
control number; the HL7 R4 example EOB parses; a malformed EOB is quarantined with a
reason naming it and the element, its siblings kept."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from collectors.fhir_records import parse_bundle
from collectors.mapping import load_mapping
from core.model import Remittance, RemittanceAdjustment, RemittanceLine

DATA = Path(__file__).parents[1] / "data" / "fhir"
C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"


def _usd(value: float) -> dict[str, Any]:
    return {"value": value, "currency": "USD"}


def _adj(code: str, value: float, system: str = "http://terminology.hl7.org/CodeSystem/"
         "adjudication", reason: str = "", group: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"category": {"coding": [{"system": system, "code": code}]},
                           "amount": _usd(value)}
    if reason:
        out["reason"] = {"coding": [{"system": CARC, "code": reason}]}
    if group:
        out["extension"] = [{"url": "urn:chargeline:adjustment-group", "valueCode": group}]
    return out


EOB: dict[str, Any] = {
    "resourceType": "ExplanationOfBenefit", "id": "eob-1",
    "meta": {"lastUpdated": "2026-11-16T06:00:00Z"},
    "identifier": [{"system": "urn:payer:99101:claim", "value": "PCN-1"}],
    "status": "active",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                         "code": "institutional"}]},
    "use": "claim",
    "patient": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN123"},
                "display": "DOE, JANE"},
    "created": "2026-11-16T06:00:00Z",
    "insurer": {"identifier": {"value": "99101"}, "display": "NORTHSTAR MEDICARE"},
    "provider": {"identifier": {"value": "FAC01"}},
    "claim": {"reference": "Claim/CLM-1"},
    "outcome": "complete",
    "insurance": [{"focal": True, "coverage": {"display": "NORTHSTAR MEDICARE"}}],
    "item": [
        {"sequence": 1,
         "extension": [{"url": "urn:chargeline:line-control", "valueString": "CHG-1"}],
         "revenue": {"coding": [{"code": "0278"}]},
         "productOrService": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/"
                                          "HCPCSReleaseCodeSets", "code": "C1776"}]},
         "modifier": [{"coding": [{"code": "RT"}]}],
         "servicedDate": "2026-11-13", "quantity": {"value": 2}, "net": _usd(1000),
         "adjudication": [_adj("submitted", 1000), _adj("eligible", 400),
                          _adj("paidtoprovider", 320, C4BB),
                          _adj("discount", 600, C4BB, "45", "CO"),
                          _adj("coinsurance", 80, C4BB, "2", "PR")]},
        {"sequence": 2,
         "extension": [{"url": "urn:chargeline:remark-code",
                        "valueCoding": {"code": "M20"}}],
         "revenue": {"coding": [{"code": "0272"}]},
         "productOrService": {"text": "revenue code 0272"},
         "servicedDate": "2026-11-13", "net": _usd(50.5),
         "adjudication": [_adj("submitted", 50.5), _adj("paidtoprovider", 0, C4BB),
                          _adj("denialreason", 50.5, "http://hl7.org/fhir/us/carin-bb/"
                               "CodeSystem/C4BBAdjudicationDiscriminator", "16")]},
    ],
    "total": [_adj("submitted", 1050.5), _adj("benefit", 320),
              _adj("memberliability", 80, C4BB)],
    "payment": {"date": "2026-11-16", "amount": _usd(320),
                "identifier": {"value": "9910120261116001"}},
}
RID = "9910120261116001:CLM-1:PCN-1"


def _page(*resources: dict[str, Any]):  # type: ignore[no-untyped-def]
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r} for r in resources]}
    return parse_bundle(bundle, "ExplanationOfBenefit",
                        load_mapping("fhir_billing")["ExplanationOfBenefit"], "secret",
                        "http://x/ExplanationOfBenefit")


def test_an_eob_is_the_remittance_an_835_claim_payment_gives() -> None:
    page = _page(EOB)
    assert page.rejects == [] and page.newest == "2026-11-16T06:00:00Z"
    remittance, first, second, *adjustments = page.records
    assert remittance == Remittance(
        remittance_id=RID, claim_id="CLM-1", facility_id="FAC01", payer_id="99101",
        payer_name="NORTHSTAR MEDICARE", status_code="1", charge_amount=Decimal("1050.5"),
        paid_amount=Decimal(320), patient_responsibility=Decimal(80), payer_claim_id="PCN-1",
        paid_at=datetime(2026, 11, 16, tzinfo=UTC),
        received_at=datetime(2026, 11, 16, 6, tzinfo=UTC),
        last_updated=datetime(2026, 11, 16, 6, tzinfo=UTC))
    updated = remittance.last_updated
    assert first == RemittanceLine(
        remittance_id=RID, line_no=1, claim_id="CLM-1", line_control="CHG-1",
        procedure_code="HC:C1776:RT", revenue_code="0278", charge_amount=Decimal(1000),
        paid_amount=Decimal(320), units=Decimal(2), service_on=date(2026, 11, 13),
        last_updated=updated)
    assert (second.procedure_code, second.revenue_code, second.paid_amount,  # type: ignore[attr-defined]
            second.remark_codes, second.units) == (  # type: ignore[attr-defined]
        "NU:0272", "0272", Decimal(0), "M20", Decimal(1))
    assert [(a.line_no, a.seq, a.group_code, a.reason_code, a.amount)  # type: ignore[attr-defined]
            for a in adjustments] == [(1, 1, "CO", "45", Decimal(600)),
                                      (1, 2, "PR", "2", Decimal(80)),
                                      (2, 1, "CO", "16", Decimal("50.5"))]
    assert all(isinstance(a, RemittanceAdjustment) for a in adjustments)
    # the patient is never read: no record holds the MRN or the name
    assert "MRN123" not in repr(page.records) and "DOE" not in repr(page.records)


def test_denied_reversed_and_queued_eobs() -> None:
    denied = {**copy.deepcopy(EOB), "id": "eob-2", "outcome": "error"}
    reversed_ = {**copy.deepcopy(EOB), "id": "eob-3", "status": "entered-in-error"}
    queued = {**copy.deepcopy(EOB), "id": "eob-4", "outcome": "queued"}
    page = _page(denied, reversed_, queued)
    assert page.rejects == []
    heads = [r for r in page.records if isinstance(r, Remittance)]
    assert [(r.remittance_id, r.status_code) for r in heads] == [
        (RID, "4"), (f"{RID}:22", "22")]  # the queued one gives nothing yet
    reversal = [r for r in page.records if r.remittance_id == f"{RID}:22"]  # type: ignore[attr-defined]
    assert heads[1].paid_amount == Decimal(-320) and heads[1].charge_amount == Decimal("-1050.5")
    assert {a.amount for a in reversal if isinstance(a, RemittanceAdjustment)} == {
        Decimal(-600), Decimal(-80), Decimal("-50.5")}


def test_without_a_reason_the_patient_categories_are_pr_adjustments() -> None:
    eob = copy.deepcopy(EOB)
    eob["item"][0]["adjudication"][4] = _adj("deductible", 80)  # no reason, no group
    eob["item"][0]["adjudication"].append(_adj("copay", 0))  # nothing: no adjustment
    del eob["total"][2]  # no memberliability: the PR adjustments' sum
    del eob["payment"]["identifier"]  # no trace number: keyed by the resource
    remittance, *rest = _page(eob).records
    assert remittance.remittance_id == "ExplanationOfBenefit/eob-1"  # type: ignore[attr-defined]
    assert remittance.patient_responsibility == Decimal(80)  # type: ignore[attr-defined]
    assert [(a.group_code, a.reason_code) for a in rest  # type: ignore[attr-defined]
            if isinstance(a, RemittanceAdjustment)] == [("CO", "45"), ("PR", "1"), ("CO", "16")]


def test_the_hl7_r4_example_eob_parses() -> None:
    """The specification's ExplanationOfBenefit/EB3500 (tests/data/README.md): no payment,
    no trace number, no meta — paid as its total benefit on the day it was created."""
    eob = json.loads((DATA / "explanationofbenefit-example.json").read_text())
    page = _page(eob)
    assert page.rejects == []
    remittance, first, second = page.records
    assert (remittance.remittance_id, remittance.claim_id, remittance.payer_id,  # type: ignore[attr-defined]
            remittance.status_code, remittance.charge_amount, remittance.paid_amount,  # type: ignore[attr-defined]
            remittance.payer_claim_id, remittance.paid_at) == (  # type: ignore[attr-defined]
        "ExplanationOfBenefit/EB3500", "100150", "3", "1", Decimal("135.57"), Decimal(96),
        "987654321", datetime(2014, 8, 16, tzinfo=UTC))
    assert [(r.line_no, r.procedure_code, r.charge_amount, r.paid_amount)  # type: ignore[attr-defined]
            for r in (first, second)] == [(1, "1205", Decimal("135.57"), Decimal(96)),
                                          (2, "group", Decimal(200), Decimal(180))]


def test_a_malformed_eob_is_quarantined_naming_it_and_the_element() -> None:
    no_claim = {**copy.deepcopy(EOB), "id": "eob-a"}
    del no_claim["claim"]
    no_amount = copy.deepcopy(EOB) | {"id": "eob-b"}
    del no_amount["item"][1]["adjudication"][2]["amount"]
    not_r4 = copy.deepcopy(EOB) | {"id": "eob-c"}
    del not_r4["item"][0]["productOrService"]
    good = copy.deepcopy(EOB) | {"id": "eob-d", "claim": {"reference": "Claim/CLM-9"}}
    page = _page(no_claim, no_amount, not_r4, good)
    reasons = {r.position.rsplit("#", 1)[1]: r.reason for r in page.rejects}
    assert set(reasons) == {"entry0", "entry1", "entry2"}
    assert "ExplanationOfBenefit.claim" in reasons["entry0"]
    assert "item[1].adjudication[2]" in reasons["entry1"] and "CO-16" in reasons["entry1"]
    assert "productOrService" in reasons["entry2"]
    assert all(r.record_kind == "ExplanationOfBenefit" for r in page.rejects)
    # the sibling is kept, whole
    assert {r.claim_id for r in page.records} == {"CLM-9"}  # type: ignore[attr-defined]
    assert len(page.records) == 6
