"""Implant scans as GS1 UDI strings: which scans the EHR sends as the device's barcode, and
with which expiry.

About half of the implant scans arrive as the printed UDI, ``(01)GTIN(17)YYMMDD(10)LOT
(21)SERIAL``, instead of the item id and lot/serial extensions; a few of those devices
had expired before the day of use. The choice is a pure function of the usage (its own
random stream, keyed by the usage), so adding it reshuffles nothing else in the estate
and the truth (simulator.truth) sees exactly what the FHIR rendering sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from simulator.records import Usage

UDI_SHARE = 0.5  # of implant scans
EXPIRED_SHARE = 0.04  # of UDI scans: the device's expiry date lies before the day of use


@dataclass(frozen=True, slots=True)
class UdiScan:
    """How one scan was sent as a UDI."""

    text: str  # the GS1 element string, printed form
    expires_on: date
    expired: bool


def gtin_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of a GTIN's first 13 (or fewer) digits."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def udi_scan(u: Usage) -> UdiScan | None:
    """The UDI this scan was sent as, or None when it went as an item id (not an implant,
    no lot, or a scan whose reference is not the item's own: a fault's unknown item)."""
    item = u.item
    if (item is None or item.item_class != "IMPLANT" or not u.lot or not u.usage_id
            or u.item_ref != item.item_id or not item.gtin.isdigit() or len(item.gtin) != 14
            or gtin_check_digit(item.gtin[:13]) != item.gtin[13]):
        return None
    rng = random.Random(f"udi|{u.usage_id}|{u.lot}|{u.serial}|{u.used_ms}")
    if rng.random() >= UDI_SHARE:
        return None
    used = datetime.fromtimestamp(u.used_ms / 1000, UTC).date()
    expired = rng.random() < EXPIRED_SHARE
    # an expired device's date lies two days or more before use in UTC: before the day
    # of use in any facility's zone too
    days = -rng.randint(2, 120) if expired else rng.randint(180, 1100)
    expires = used + timedelta(days=days)
    text = f"(01){item.gtin}(17){expires:%y%m%d}(10){u.lot}"
    if u.serial:
        text += f"(21){u.serial}"
    return UdiScan(text, expires, expired)
