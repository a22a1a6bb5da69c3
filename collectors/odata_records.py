"""OData v4 JSON pages -> canonical records (pure), per the entity-set mappings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors import jsonio
from collectors.base import Reject
from collectors.incremental import Latest
from collectors.mapping import RecordMapping
from collectors.rejects import unexpected_reason
from core.errors import RecordError
from core.model import RECORD_TYPE_BY_KIND, CanonicalRecord, build_record
from store.bounds import check_record


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
    link = body.get("@odata.nextLink")
    page = ODataPage(next_url=link if isinstance(link, str) and link else None)
    newest = Latest()
    for index, row in enumerate(body["value"]):
        where = f"{url}#row{index}"
        if not isinstance(row, dict):
            page.rejects.append(Reject(where, "row is not a JSON object",
                                       jsonio.dumps_payload(row), kind))
            continue
        try:
            if jsonio.deeper_than(row, jsonio.RECORD_DEPTH):
                raise RecordError(f"row nested deeper than {jsonio.RECORD_DEPTH} levels — "
                                  "not an OData entity (a hostile or broken document)")
            record = build_record(record_type, mapping.apply(row), where=where)
            page.records.append(check_record(record, where))
            newest.offer(row.get(modified))
        except RecordError as exc:
            page.rejects.append(Reject(where, exc.reason, jsonio.dumps_payload(row), kind))
        except Exception as exc:  # one row, never its page (collectors.rejects)
            page.rejects.append(Reject(where, unexpected_reason(exc, where),
                                       jsonio.dumps_payload(row), kind))
    page.newest = newest.value
    return page
