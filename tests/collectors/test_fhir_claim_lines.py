"""FHIR R4 Claim.item -> claim lines, through the billing mapping's ``lines:`` section:
revenue code, HCPCS and modifiers, units, net (or unit price x quantity), service date,
and the ChargeItem a line bills; a bad line refuses its claim, not the page."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors.fhir_records import parse_bundle
from collectors.mapping import RecordMapping, load_mapping
from core.errors import ConfigError
from core.model import Claim, ClaimLine

CLAIM: dict[str, Any] = {
    "resourceType": "Claim", "id": "CLM-1", "meta": {"lastUpdated": "2026-11-18T10:00:00Z"},
    "status": "active",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                         "code": "institutional"}]},
    "use": "claim",
    "patient": {"identifier": {"system": "urn:mrn:FAC01", "value": "MRN123"},
                "display": "DOE, JANE"},
    "created": "2026-11-18T10:00:00Z", "provider": {"identifier": {"value": "FAC01"}},
    "priority": {"coding": [{"code": "normal"}]},
    "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Payer"}}],
    "item": [
        {"sequence": 1,
         "extension": [{"url": "urn:chargeline:charge-item",
                        "valueReference": {"reference": "ChargeItem/CHG-1"}}],
         "revenue": {"coding": [{"code": "0278"}]},
         "productOrService": {"coding": [{"code": "27447"}]},
         "modifier": [{"coding": [{"code": "RT"}]}, {"coding": [{"code": "59"}]}],
         "servicedDate": "2026-11-17", "quantity": {"value": 1},
         "net": {"value": 1200.5, "currency": "USD"},
         "encounter": [{"reference": "Encounter/ENC-1"}]},
        {"sequence": 2,
         "extension": [{"url": "urn:chargeline:line-control", "valueString": "LC-2"}],
         "revenue": {"coding": [{"code": "0272"}]},
         "productOrService": {"text": "supply without HCPCS"},
         "servicedPeriod": {"start": "2026-11-17T23:30:00-05:00"},
         "quantity": {"value": 3}, "unitPrice": {"value": 10.25, "currency": "USD"}},
    ],
    "total": {"value": 1231.25, "currency": "USD"},
}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}


def test_each_item_is_a_claim_line_with_its_codes_money_date_and_charge() -> None:
    mapping = load_mapping("fhir_billing")["Claim"]
    page = parse_bundle(bundle(CLAIM), "Claim", mapping, "secret", "http://x/Claim")
    assert page.rejects == []
    claim, first, second = page.records
    assert isinstance(claim, Claim) and claim.encounter_id == "ENC-1"
    assert isinstance(first, ClaimLine) and isinstance(second, ClaimLine)
    assert (first.claim_id, first.line_no, first.charge_id, first.line_control) == (
        "CLM-1", 1, "CHG-1", "CHG-1")  # the ChargeItem reference is its control number
    assert (first.revenue_code, first.procedure_code, first.modifiers) == (
        "0278", "27447", "RT,59")
    assert (first.units, first.charge_amount, first.service_on) == (
        Decimal(1), Decimal("1200.5"), date(2026, 11, 17))
    assert first.last_updated == datetime(2026, 11, 18, 10, tzinfo=UTC)
    assert (second.charge_id, second.line_control, second.procedure_code) == ("", "LC-2", "")
    # no net: unit price x quantity; a period's start in the offset it was written in
    assert (second.charge_amount, second.service_on) == (Decimal("30.75"), date(2026, 11, 17))


def test_a_bad_line_refuses_its_claim_and_keeps_the_others() -> None:
    bad = copy.deepcopy(CLAIM)
    bad["id"] = "CLM-2"
    bad["item"][1]["extension"][0]["valueString"] = "L" * 80  # wider than the store holds
    mapping = load_mapping("fhir_billing")["Claim"]
    page = parse_bundle(bundle(bad, CLAIM), "Claim", mapping, "secret", "http://x/Claim")
    (reject,) = page.rejects
    assert reject.position == "http://x/Claim#entry0"
    assert "claim_line" in reject.reason and "line_control" in reject.reason
    assert "item[1]" in reject.reason
    assert {r.claim_id for r in page.records} == {"CLM-1"}  # type: ignore[attr-defined]


def test_an_item_without_an_amount_is_a_line_whose_amount_is_unknown() -> None:
    bare = copy.deepcopy(CLAIM)
    del bare["item"][1]["unitPrice"]  # R4 Claim.item.net and unitPrice are optional
    mapping = load_mapping("fhir_billing")["Claim"]
    page = parse_bundle(bundle(bare), "Claim", mapping, "secret", "http://x/Claim")
    assert page.rejects == []
    second = page.records[2]
    assert isinstance(second, ClaimLine) and second.charge_amount is None


def test_the_simulators_claims_validate_and_bill_their_charges() -> None:
    from simulator.config import EstateConfig
    from simulator.estate import build_estate
    from simulator.fhir import claim as render_claim

    estate = build_estate(EstateConfig(seed=3, facilities=1, days=1, volume_scale=0.1,
                                       end=datetime(2026, 11, 20, tzinfo=UTC)), progress=False)
    cdm = {c.cdm_code: c for c in estate.catalog.cdm}
    claims = [c for c in estate.facilities[0].claims if c.charges][:5]
    resources = [render_claim(c, cdm=cdm, linked=lambda cid: cid != claims[0].charges[0]
                              .charge_id) for c in claims]
    mapping = load_mapping("fhir_billing")["Claim"]
    page = parse_bundle(bundle(*resources), "Claim", mapping, "secret", "http://x/Claim")
    assert page.rejects == []
    lines = {(r.claim_id, r.line_no): r for r in page.records if isinstance(r, ClaimLine)}
    for c in claims:
        for n, charge in enumerate(c.charges, 1):
            line = lines[c.claim_id, n]
            linked = charge.charge_id != claims[0].charges[0].charge_id
            assert line.charge_id == (charge.charge_id if linked else "")
            assert (line.units, line.charge_amount) == (Decimal(charge.quantity),
                                                        Decimal(str(charge.amount)))
            assert (line.procedure_code, line.revenue_code) == (
                cdm[charge.cdm_code].hcpcs, cdm[charge.cdm_code].revenue_code)


def test_a_lines_section_must_name_its_repeating_element() -> None:
    with pytest.raises(ConfigError, match="each: item"):
        RecordMapping("Claim", {"record": "claim", "fields": {}, "lines": {"fields": {}}})
