"""Implant scans served as GS1 UDI strings: valid barcodes of the item's GTIN, lot and
serial, a few of expired devices, and a truth that names one lot's usages exactly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.udi import parse_udi
from simulator.estate import Estate, build_estate
from simulator.fhir import supply_delivery
from simulator.records import Usage
from simulator.udi_scans import gtin_check_digit, udi_scan
from tests.estate import END, estate_config


@pytest.fixture(scope="module")
def estate() -> Estate:
    return build_estate(estate_config(seed=7, facilities=2, days=3, faults="default",
                                      volume_scale=0.2, end=END), progress=False)


def _served(estate: Estate) -> list[Usage]:
    return estate.collections["ehr/SupplyDelivery"].visible_records(estate.hl7.as_of)


def _code(resource: dict[str, Any]) -> str:
    return resource["suppliedItem"]["itemCodeableConcept"]["coding"][0]["code"]


def test_check_digit_is_gs1_mod10() -> None:
    assert gtin_check_digit("0950600013435") == "2"  # GS1's example GTIN 09506000134352
    assert gtin_check_digit("0001234560001") == "2"


def test_every_catalog_gtin_is_valid(estate: Estate) -> None:
    for item in estate.catalog.items:
        assert len(item.gtin) == 14 and item.gtin[13] == gtin_check_digit(item.gtin[:13])


def test_a_share_of_implant_scans_arrive_as_parseable_udis(estate: Estate) -> None:
    implants = [u for u in _served(estate) if u.item is not None
                and u.item.item_class == "IMPLANT" and u.lot and u.item_ref == u.item.item_id]
    sent = Counter(udi_scan(u) is not None for u in implants)
    assert sent[True] >= 10 and sent[False] >= 10, sent  # about half of them
    for u in implants:
        scan = udi_scan(u)
        resource = supply_delivery(u)
        urls = {e["url"] for e in resource["extension"]}
        if scan is None:
            assert _code(resource) == u.item_ref and "urn:chargeline:lot" in urls
            continue
        assert u.item is not None
        udi = parse_udi(_code(resource))  # what the collector will read
        assert (udi.udi_di, udi.lot, udi.serial, udi.expires_on) == (
            u.item.gtin, u.lot, u.serial, scan.expires_on)
        assert "urn:chargeline:lot" not in urls and "urn:chargeline:serial" not in urls
        used = datetime.fromtimestamp(u.used_ms / 1000, UTC).date()
        assert scan.expired == (scan.expires_on < used)


def test_ordinary_scans_are_never_udis(estate: Estate) -> None:
    for u in _served(estate):
        if u.item is None or u.item.item_class != "IMPLANT" or u.item_ref != u.item.item_id:
            assert udi_scan(u) is None


def test_truth_names_one_lots_usages_and_the_expired_devices(estate: Estate) -> None:
    truth = estate.truth["recall"]
    served = _served(estate)
    assert truth["lot"]
    assert truth["usage_ids"] == sorted(u.usage_id for u in served if u.lot == truth["lot"])
    assert any(udi_scan(u) is not None for u in served if u.lot == truth["lot"])
    expired = sorted(u.usage_id for u in served if (s := udi_scan(u)) is not None and s.expired)
    assert truth["expired_usage_ids"] == expired and 1 <= len(expired) < truth["udi_scans"]


def test_udi_choice_is_deterministic(estate: Estate) -> None:
    again = build_estate(estate_config(seed=7, facilities=2, days=3, faults="default",
                                       volume_scale=0.2, end=END), progress=False)
    assert again.truth["recall"] == estate.truth["recall"]
