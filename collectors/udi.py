"""GS1 UDI scans at the collector edge (pure): a device's identity from its barcode.

An implant scanned at the point of care often arrives as the whole GS1 element string of
its UDI, not as an item id: ``(01)00884838001234(17)271231(10)LOT42(21)SN0001`` as
printed, or raw from the scanner with FNC1/GS (``\\x1d``) separators and perhaps a
symbology identifier (``]d2``). ``biip`` parses both. The usage then takes

- ``udi_di`` and ``item_ref`` from (01), the GTIN (item mapping by GTIN works as today),
- ``expires_on`` from (17), ``lot`` from (10), ``serial`` from (21),

unless the source gave those explicitly (an explicit value wins). A usage mapping may
name a dedicated field ``udi`` for the scanned string (else ``item_ref`` is the scan),
and may set ``udi_required: true`` in its section: then a scan that is not a valid UDI
is rejected with biip's reason. Without it, a malformed UDI is kept as scanned: the
item reference fails to map downstream, where the failed-mapping metric counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message

from core.errors import RecordError

UDI_FIELD = "udi"  # a usage mapping's dedicated field for the scanned UDI string
REQUIRED_OPTION = "udi_required"
GS = "\x1d"  # ASCII group separator: FNC1 as a scanner transmits it
_SYMBOLOGY = ("]C1", "]e0", "]d2", "]Q3", "]J1")  # GS1-128, DataBar, DataMatrix, QR, DotCode
_CONFIG = ParseConfig(separator_chars=[GS])


@dataclass(frozen=True, slots=True)
class Udi:
    """The production identifiers of one device, from its GS1 UDI."""

    udi_di: str  # (01): the GTIN, the device identifier
    expires_on: date | None = None  # (17)
    lot: str = ""  # (10)
    serial: str = ""  # (21)


class UdiError(ValueError):
    """The text is not a valid GS1 UDI; the message is the reason (biip's, when it has one)."""


def looks_like_udi(text: str) -> bool:
    """Whether a scanned value is meant as a GS1 element string rather than an item id:
    parentheses (printed form), a symbology identifier, a GS separator, or digits that
    start with (01) and carry more than the bare GTIN. A plain GTIN is not a UDI."""
    text = text.strip()
    if text.startswith(("(", *_SYMBOLOGY)) or GS in text:
        return True
    return len(text) > 16 and text.startswith("01") and text[2:16].isdigit()


def parse_udi(text: str) -> Udi:
    """The UDI's device identifier, expiry, lot and serial; ``UdiError`` with the reason
    when ``text`` is not a GS1 element string with a valid (01) GTIN."""
    text = text.strip()
    if not text:
        raise UdiError("empty scan")
    try:
        message = (GS1Message.parse_hri(text, config=_CONFIG) if text.startswith("(")
                   else GS1Message.parse(_without_symbology(text), config=_CONFIG))
    except ParseError as exc:
        raise UdiError(str(exc)) from None
    values: dict[str, Any] = {}
    for element in message.element_strings:
        ai = element.ai.ai
        if ai == "01":
            if element.gtin_error:
                raise UdiError(element.gtin_error)
            values["udi_di"] = element.value
        elif ai == "17":
            values["expires_on"] = element.date
        elif ai == "10":
            values["lot"] = element.value
        elif ai == "21":
            values["serial"] = element.value
    if "udi_di" not in values:
        raise UdiError("no (01) device identifier (GTIN) in the element string")
    return Udi(**values)


def _without_symbology(text: str) -> str:
    for prefix in _SYMBOLOGY:
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def apply_udi(values: dict[str, Any], options: Mapping[str, Any], where: str) -> None:
    """Fill a usage's device fields in place from its scanned UDI (module docstring).

    ``values`` are the mapped fields of one usage (a dedicated ``udi`` field is removed);
    ``options`` the mapping section's options. Raise ``RecordError`` only when the
    mapping requires a UDI and the scan is not one."""
    dedicated = values.pop(UDI_FIELD, None)
    scanned = dedicated if dedicated not in (None, "") else values.get("item_ref")
    required = bool(options.get(REQUIRED_OPTION))
    field = UDI_FIELD if dedicated not in (None, "") else "item_ref"
    text = scanned if isinstance(scanned, str) else ""
    if not required and not looks_like_udi(text):
        return  # an ordinary item id or GTIN
    try:
        udi = parse_udi(text)
    except UdiError as exc:
        if required:
            raise RecordError(f"usage at {where}: {field} {text[:60]!r} is not a GS1 UDI "
                              f"({exc}) — the mapping sets {REQUIRED_OPTION}: true",
                              position=where) from None
        return  # kept as scanned
    if field == "item_ref" or _empty(values.get("item_ref")):
        values["item_ref"] = udi.udi_di
    for name in ("udi_di", "expires_on", "lot", "serial"):
        found = getattr(udi, name)
        if _empty(values.get(name)) and not _empty(found):
            values[name] = found


def _empty(value: Any) -> bool:
    return value is None or value == ""
