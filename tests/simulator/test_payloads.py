"""Served FHIR resources are valid R4; PHI is in the payloads on purpose."""

from __future__ import annotations

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.simulator.walk import FHIR, bearer, fhir_pages


@pytest.mark.parametrize("resource", sorted(FHIR))
def test_every_served_resource_validates_as_r4(estate_factory, resource: str) -> None:
    running = estate_factory(faults="none", days=4, volume_scale=0.1)
    model = get_fhir_model_class(resource)
    with httpx.Client(base_url=running.base_url, headers=bearer(running.base_url)) as client:
        pages = fhir_pages(client, resource, count=1000)
    entries = [e["resource"] for p in pages for e in p.get("entry", [])]
    assert entries, f"no {resource} served"
    for res in entries:
        if resource == "SupplyDelivery":
            # the contract sends supplier as a list (R4 has one Reference): documented
            assert isinstance(res.pop("supplier"), list)
        model.model_validate(res)
    if resource in ("ChargeItem", "Encounter", "SupplyDelivery"):
        subject = entries[0].get("subject") or entries[0]["patient"]
        assert subject["identifier"]["value"].startswith("MRN") and ", " in subject["display"]
