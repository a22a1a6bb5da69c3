"""The mapping language's two options for other estates' conventions, on their own: a
field mapped ``as: date`` (and a usage's ``used_on``) is the facility's local calendar
date — in its configured zone (DST from zoneinfo), else in the offset the source wrote —
and ``times:`` turns a unit price into the line total (issue 17, items 1 and 4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from collectors.mapping import RecordMapping
from core.localtime import parse_zones

NEW_YORK = parse_zones({"FAC01": "America/New_York"}, "test")
FIELDS = {"facility_id": "facility",
          "service_date": {"path": "occurrenceDateTime", "as": "date"},
          "used_at": "used"}


@pytest.mark.parametrize(("written", "zones", "local"), [
    # the facility's offset written: its date, with or without a configured zone
    ("2024-01-08T19:04:15-05:00", {}, date(2024, 1, 8)),
    ("2024-01-08T19:04:15-05:00", NEW_YORK, date(2024, 1, 8)),
    ("20240108190415-0500", {}, date(2024, 1, 8)),  # HL7 DTM
    # UTC written beside a configured zone: the facility's date, not the UTC one
    ("2024-01-09T00:04:15Z", NEW_YORK, date(2024, 1, 8)),
    ("2024-01-09T00:04:15Z", {}, date(2024, 1, 9)),
    # New York's fall-back (06:00 UTC on 3 Nov 2024): EDT before it, EST after
    ("2024-11-03T03:30:00Z", NEW_YORK, date(2024, 11, 2)),
    ("2024-11-03T05:30:00Z", NEW_YORK, date(2024, 11, 3)),
    ("2024-11-04T04:30:00Z", NEW_YORK, date(2024, 11, 3)),
    ("2024-01-08", NEW_YORK, date(2024, 1, 8)),  # a date already
])
def test_a_date_key_and_used_on_are_the_facility_s_local_date(
        written: str, zones: dict[str, Any], local: date) -> None:
    mapping = RecordMapping("ChargeItem", {"fields": FIELDS}, zones)
    out = mapping.apply({"facility": "FAC01", "occurrenceDateTime": written, "used": written})
    # (a date-only value stays the text written; the canonical model reads it as a date)
    assert date.fromisoformat(str(out["service_date"])) == local
    assert out["used_on"] == local


def test_another_facility_falls_back_to_the_written_offset() -> None:
    mapping = RecordMapping("ChargeItem", {"fields": FIELDS}, NEW_YORK)
    out = mapping.apply({"facility": "FAC02", "occurrenceDateTime": "2024-01-09T00:04:15Z"})
    assert out["service_date"] == date(2024, 1, 9)


@pytest.mark.parametrize(("price", "quantity", "amount"), [
    (12.5, 3, Decimal("37.5")),
    ("0.10", "7", Decimal("0.70")),
    (12.5, None, None),  # no quantity: no amount, rather than the unit price
])
def test_times_makes_a_unit_price_the_line_total(price: Any, quantity: Any,
                                                 amount: Decimal | None) -> None:
    mapping = RecordMapping("ChargeItem", {"fields": {"amount": {
        "path": "priceOverride.value", "times": "quantity.value"}}})
    payload: dict[str, Any] = {"priceOverride": {"value": price}}
    if quantity is not None:
        payload["quantity"] = {"value": quantity}
    assert mapping.apply(payload).get("amount") == amount
