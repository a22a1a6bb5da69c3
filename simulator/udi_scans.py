"""Implant scans as GS1 UDI strings: which scans the EHR sends as the device's barcode, and
with which expiry.

About half of the implant scans arrive as the printed UDI, ``(01)GTIN(17)YYMMDD(10)LOT
(21)SERIAL``, instead of the item id and lot/serial extensions. The expiry is the lot's:
one date per item and lot, whichever scan prints it (two scans of one device print the
same UDI); a few lots expired years ago, so their devices are used after expiry. Both
choices are pure functions of the usage and the lot (their own random streams), so
adding them reshuffles nothing else in the estate, and the truth (simulator.truth) sees
exactly what the FHIR rendering sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from simulator.records import Usage

UDI_SHARE = 0.5  # of implant scans
EXPIRED_SHARE = 0.15  # of lots printed on UDIs: expired in 2019-2021, before any day of use


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
    # a serialised device is scanned the same way each time (a duplicate scan prints the
    # same UDI); other scans choose for themselves
    key = f"{item.item_id}|{u.lot}|{u.serial}" if u.serial else f"{u.usage_id}|{u.used_ms}"
    if random.Random(f"udi|{key}").random() >= UDI_SHARE:
        return None
    used = datetime.fromtimestamp(u.used_ms / 1000, UTC).date()
    expires = lot_expiry(item.item_id, u.lot)
    # days apart from any day of use, so expired in any facility's zone alike
    expired = expires < used
    text = f"(01){item.gtin}(17){expires:%y%m%d}(10){u.lot}"
    if u.serial:
        text += f"(21){u.serial}"
    return UdiScan(text, expires, expired)


def lot_expiry(item_id: str, lot: str) -> date:
    """The expiry date of a lot of an item: in 2031-2033 for most, in 2019-2021 for an
    expired few (keyed by item and lot, so every device of the lot prints the same)."""
    rng = random.Random(f"expiry|{item_id}|{lot}")
    if rng.random() < EXPIRED_SHARE:
        return date(2019, 1, 1) + timedelta(days=rng.randint(0, 3 * 365 - 1))
    return date(2031, 1, 1) + timedelta(days=rng.randint(0, 3 * 365 - 1))
