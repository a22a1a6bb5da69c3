"""OData v4 JSON pages -> canonical records (pure), per the entity-set mappings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chargeline.errors import RecordError
from chargeline.model import RECORD_TYPE_BY_KIND, CanonicalRecord, build_record
from collectors.base import Reject
from collectors.incremental import Latest
from collectors.mapping import RecordMapping


@dataclass
class ODataPage:
    records: list[CanonicalRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    newest: str = ""
    next_url: str | None = None


def parse_odata_page(body: Any, entity_set: str, mapping: RecordMapping, url: str) -> ODataPage:
    """Convert one ``{"value": [...], "@odata.nextLink": ...}`` page; bad rows are rejects."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise RecordError(f"{url}: not an OData collection page (no 'value' list)")
    kind = mapping.options.get("record", "")
    record_type = RECORD_TYPE_BY_KIND.get(kind)
    if record_type is None:
        raise RecordError(f"mapping {entity_set}: unknown record kind {kind!r}")
    modified = mapping.options.get("modified", "ModifiedAt")
    page = ODataPage(next_url=body.get("@odata.nextLink"))
    newest = Latest()
    for index, row in enumerate(body["value"]):
        where = f"{url}#row{index}"
        if not isinstance(row, dict):
            page.rejects.append(Reject(where, "row is not a JSON object", json.dumps(row), kind))
            continue
        try:
            page.records.append(build_record(record_type, mapping.apply(row), where=where))
            newest.offer(row.get(modified))
        except RecordError as exc:
            page.rejects.append(Reject(where, exc.reason, json.dumps(row, default=str), kind))
    page.newest = newest.value
    return page
