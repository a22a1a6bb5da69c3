"""GS1 UDI scans: parsed at the edge into device identifier, expiry, lot and serial."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from collectors.fhir_records import convert_resource
from collectors.hl7_parse import Block
from collectors.hl7_records import Hl7Converter
from collectors.mapping import RecordMapping, load_mapping
from collectors.udi import GS, Udi, UdiError, apply_udi, looks_like_udi, parse_udi
from core.errors import RecordError
from core.model import UsageEvent
from tests.collectors.payloads import DFT, SUPPLY_DELIVERY

GTIN = "09506000134352"  # GS1's own example GTIN: a valid check digit
HRI = f"(01){GTIN}(17)271231(10)LOT42A(21)SN0001"
RAW = f"01{GTIN}17271231" + f"10LOT42A{GS}21SN0001"


def test_printed_form_gives_every_identifier() -> None:
    assert parse_udi(HRI) == Udi(GTIN, date(2027, 12, 31), "LOT42A", "SN0001")


def test_raw_form_with_gs_separators_and_symbology_identifier() -> None:
    expected = Udi(GTIN, date(2027, 12, 31), "LOT42A", "SN0001")
    assert parse_udi(RAW) == expected
    assert parse_udi("]d2" + RAW) == expected
    # the lot last: no separator needed after a variable-length field at the end
    assert parse_udi(f"01{GTIN}21SN0001{GS}10LOT42A") == Udi(GTIN, None, "LOT42A", "SN0001")


def test_expired_device_still_parses_with_its_past_expiry() -> None:
    udi = parse_udi(f"(01){GTIN}(17)200131(10)OLD1")
    assert udi.expires_on == date(2020, 1, 31) and udi.lot == "OLD1"
    # GS1: day 00 is the last day of the month
    assert parse_udi(f"(01){GTIN}(17)240200").expires_on == date(2024, 2, 29)


@pytest.mark.parametrize(("text", "reason"), [
    (f"(01){GTIN[:-1]}3(10)X", "check digit"),
    (f"(01){GTIN}(17)241340", "(17)"),
    ("(10)LOTONLY", "no (01)"),
    (f"(01){GTIN[:-2]}(10)X", "(01)"),
    ("", "empty"),
])
def test_malformed_udi_says_why(text: str, reason: str) -> None:
    with pytest.raises(UdiError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_udi(text)


def test_item_ids_and_bare_gtins_are_not_udis() -> None:
    assert not looks_like_udi("ITM-100234")
    assert not looks_like_udi(GTIN)
    assert looks_like_udi(HRI) and looks_like_udi(RAW)


def _values(**over: Any) -> dict[str, Any]:
    return {"usage_id": "U1", "item_ref": HRI, **over}


def test_apply_fills_device_fields_and_item_ref_becomes_the_gtin() -> None:
    values = _values()
    apply_udi(values, {}, "here")
    assert values == {"usage_id": "U1", "item_ref": GTIN, "udi_di": GTIN,
                      "expires_on": date(2027, 12, 31), "lot": "LOT42A", "serial": "SN0001"}


def test_explicit_source_values_win_over_the_udi() -> None:
    values = _values(lot="LOT-FROM-EHR")
    apply_udi(values, {}, "here")
    assert values["lot"] == "LOT-FROM-EHR" and values["serial"] == "SN0001"


def test_dedicated_udi_field_keeps_an_explicit_item_ref() -> None:
    values = {"usage_id": "U1", "item_ref": "ITM-1", "udi": RAW}
    apply_udi(values, {}, "here")
    assert values["item_ref"] == "ITM-1" and values["udi_di"] == GTIN and "udi" not in values


def test_malformed_udi_is_kept_as_scanned_unless_required() -> None:
    bad = f"(01){GTIN[:-1]}3(10)X"
    values = _values(item_ref=bad)
    apply_udi(values, {}, "here")
    assert values == {"usage_id": "U1", "item_ref": bad}
    with pytest.raises(RecordError, match=r"here: item_ref .* not a GS1 UDI .*check digit"):
        apply_udi(_values(item_ref=bad), {"udi_required": True}, "here")
    with pytest.raises(RecordError, match="not a GS1 UDI"):
        apply_udi(_values(item_ref="ITM-1"), {"udi_required": True}, "here")


def _delivery(code: str) -> dict[str, Any]:
    resource = copy.deepcopy(SUPPLY_DELIVERY)
    resource["suppliedItem"]["itemCodeableConcept"]["coding"][0]["code"] = code
    resource["extension"] = resource["extension"][:2]  # no lot/serial extensions: the UDI's
    return resource


def test_fhir_usage_scanned_as_udi_becomes_a_traceable_usage() -> None:
    mapping = load_mapping("fhir_usage")["SupplyDelivery"]
    usage = convert_resource(_delivery(RAW), mapping, "secret", "page#entry0")
    assert isinstance(usage, UsageEvent)
    assert (usage.item_ref, usage.udi_di, usage.lot, usage.serial, usage.expires_on) == (
        GTIN, GTIN, "LOT42A", "SN0001", date(2027, 12, 31))
    plain = convert_resource(_delivery("ITM-100234"), mapping, "secret", "page#entry1")
    assert isinstance(plain, UsageEvent) and (plain.item_ref, plain.udi_di) == ("ITM-100234", "")


def test_fhir_mapping_requiring_a_udi_rejects_a_bad_scan() -> None:
    base = load_mapping("fhir_usage")["SupplyDelivery"]
    strict = RecordMapping("SupplyDelivery", {**base.options, "udi_required": True,
                                              "fields": base.raw_fields})
    with pytest.raises(RecordError, match="page#entry0: item_ref 'ITM-100234' is not a GS1"):
        convert_resource(_delivery("ITM-100234"), strict, "secret", "page#entry0")


def test_hl7_ft1_usage_scanned_as_udi() -> None:
    mappings = dict(load_mapping("hl7_log"))
    usage = mappings["usage"]
    mappings["usage"] = RecordMapping("usage", {**usage.options, "enabled": True,
                                                "fields": usage.raw_fields})
    text = DFT.replace("ZUS|1|U-FAC01-0000345|ITM-100234|EA|LOT2311A|SN000123",
                       f"ZUS|1|U-FAC01-0000345|{RAW}|EA||")
    raw = text.encode()
    batch = Hl7Converter(mappings, "DFT_OUT", "secret").convert(
        [Block(0, len(raw), raw)], "log")
    assert not batch.rejected, batch.rejected
    (used,) = batch.usages
    assert (used.item_ref, used.udi_di, used.lot, used.serial, used.expires_on) == (
        GTIN, GTIN, "LOT42A", "SN0001", date(2027, 12, 31))
