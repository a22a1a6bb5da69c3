"""Helpers of the rendering tests: an estate's payloads under a rendering, keyed by record,
and the facility each served record belongs to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from simulator.estate_record import Estate
from simulator.odata import KEYS
from simulator.records import ClaimResponse, Remittance, ReorderPoint
from simulator.rendering import Rendering
from simulator.served import build_collections

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def record_key(name: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    """A served record's identity: FHIR id (and version), or the OData key fields."""
    system, kind = name.split("/")
    if system == "erp":
        return tuple(payload[k] for k in KEYS[kind])
    return payload["id"], payload.get("meta", {}).get("versionId")


def facility_of(estate: Estate, record: Any) -> str:
    """The facility whose systems wrote ``record`` (network-wide master data: FAC01's)."""
    if isinstance(record, tuple) and not isinstance(record[1], str):  # (Encounter, version)
        return record[0].facility_id
    if isinstance(record, ClaimResponse | Remittance):
        return record.claim.facility_id
    if isinstance(record, ReorderPoint):
        return record.location_id.split("-")[0]
    fid = getattr(record, "facility_id", None)
    return fid if isinstance(fid, str) else estate.facilities[0].facility.facility_id


def payloads(estate: Estate, rendering: Rendering | None
             ) -> dict[str, dict[tuple[Any, ...], tuple[dict[str, Any], Any]]]:
    """Per served collection: record key -> (payload, record) under ``rendering``."""
    out = {}
    for name, col in build_collections(estate, rendering).items():
        rendered = {}
        for record in col.records:
            payload = col.render(record)
            rendered[record_key(name, payload)] = (payload, record)
        out[name] = rendered
    return out


def leaves(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Pairs of leaf values at the same path of two payloads (a key missing on one side
    pairs with None)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from leaves(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from leaves(x, y, f"{path}[{i}]")
    else:
        yield path, a, b
