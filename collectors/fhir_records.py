"""FHIR R4 searchset Bundles -> canonical records (pure).

Each resource is validated with the fhir.resources R4B models (they accept R4 payloads;
the package's default R5 models reject R4 Encounter.class and Claim shapes), then
mapped field by field (``collectors/mappings/fhir_*.yaml``). Patient identifiers become
the keyed token here, at the edge; names and birth dates are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from collectors import jsonio
from collectors.base import Reject
from collectors.data.bounds import check_claim_outcome_values
from collectors.fhir_remittance import eob_records
from collectors.fhir_validate import FhirValidationError, validator_for
from collectors.incremental import Latest
from collectors.mapping import RecordMapping
from collectors.rejects import unexpected_reason
from collectors.udi import apply_udi
from core.errors import RecordError
from core.model import (
    RECORD_TYPE_BY_KIND,
    CanonicalRecord,
    ChargeStatus,
    build_record,
)
from core.phi import patient_token
from store.bounds import check_record


@dataclass(slots=True, frozen=True)
class ClaimOutcome:
    """A ClaimResponse: the adjudication outcome of one claim."""

    response_id: str
    claim_id: str
    outcome: str
    paid_amount: Decimal | None
    last_updated: datetime


@dataclass
class FhirPage:
    records: list[CanonicalRecord] = field(default_factory=list)
    outcomes: list[ClaimOutcome] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    newest: str = ""  # greatest meta.lastUpdated on the page (the watermark candidate)
    next_url: str | None = None
    total: int | None = None


def validate_resource(resource: Any, expected: str, lenient: frozenset[str] = frozenset()
                      ) -> None:
    """Raise ``RecordError`` unless ``resource`` is a valid R4 resource of that type.

    ``lenient`` names top-level elements a source is known to shape wrongly (the demo
    estate sends SupplyDelivery.supplier as a list; R4 has one Reference); they are
    mapped but left out of validation rather than losing every record."""
    if not isinstance(resource, dict):
        raise RecordError(f"entry resource is {type(resource).__name__}, not a JSON object")
    actual = resource.get("resourceType")
    if actual != expected:
        raise RecordError(f"resourceType {actual!r} where {expected} was searched")
    if lenient:
        resource = {k: v for k, v in resource.items() if k not in lenient}
    try:
        validator_for(expected).validate(resource)
    except FhirValidationError as exc:
        raise RecordError(str(exc)[:400]) from None


def next_link(bundle: dict[str, Any]) -> str | None:
    """The Bundle's ``next`` page URL, or None on the last page."""
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url:
                raise RecordError(f"Bundle next link {url!r} is not a URL")
            return url
    return None


def convert_resource(resource: dict[str, Any], mapping: RecordMapping, secret: str,
                     where: str) -> CanonicalRecord | ClaimOutcome:
    """Map one validated resource to its canonical record (or a claim outcome)."""
    values = mapping.apply(resource)
    mrn = values.pop("_mrn", "")
    authority = values.pop("_authority", "")
    kind = mapping.options.get("record", "")
    if kind == "claim_response":
        try:
            outcome = ClaimOutcome(
                response_id=str(values["response_id"]), claim_id=str(values["claim_id"]),
                outcome=str(values.get("outcome", "")),
                paid_amount=Decimal(str(values["paid_amount"]))
                if values.get("paid_amount") is not None else None,
                last_updated=datetime.fromisoformat(values["last_updated"]))
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise RecordError(f"ClaimResponse at {where}: missing or bad {exc}") from None
        if outcome.last_updated.tzinfo is None:
            raise RecordError(f"ClaimResponse at {where}: last_updated has no time zone")
        check_claim_outcome_values(
            {"response_id": outcome.response_id, "claim_id": outcome.claim_id,
             "outcome": outcome.outcome, "paid_amount": outcome.paid_amount}, where)
        return outcome
    record_type = RECORD_TYPE_BY_KIND.get(kind)
    if record_type is None:
        raise RecordError(f"mapping {mapping.name}: unknown record kind {kind!r}")
    if "patient_token" in record_type.model_fields:
        values["patient_token"] = patient_token(secret, str(mrn), str(authority))
    if kind == "usage_event":
        apply_udi(values, mapping.options, where)  # a scanned GS1 UDI: device, lot, expiry
    if kind == "charge" and values.get("reverses_charge_id"):
        values["status"] = ChargeStatus.CREDIT
    return check_record(build_record(record_type, values, where=where), where)


def _modifier_codes(value: Any) -> str:
    """Claim.item.modifier (CodeableConcepts) as comma-separated codes ('RT,59')."""
    if isinstance(value, list):
        codes = []
        for concept in value:
            coding = concept.get("coding") if isinstance(concept, dict) else None
            first = coding[0] if isinstance(coding, list) and coding else None
            code = first.get("code") if isinstance(first, dict) else concept
            if isinstance(code, str) and code:
                codes.append(code)
        return ",".join(codes)
    return str(value) if value is not None else ""


def claim_lines(resource: dict[str, Any], lines: RecordMapping, claim: CanonicalRecord,
                where: str) -> list[CanonicalRecord]:
    """The lines of one claim (its ``lines.each`` elements, e.g. ``Claim.item``), each
    keyed by the claim and stamped with its ``last_updated``. A line without a sequence
    takes its position (from 1)."""
    each = resource.get(lines.options["each"])
    record_type = RECORD_TYPE_BY_KIND.get(lines.options.get("record", ""))
    if record_type is None:
        raise RecordError(f"mapping {lines.name}: unknown record kind "
                          f"{lines.options.get('record')!r}")
    out: list[CanonicalRecord] = []
    for position, element in enumerate(each if isinstance(each, list) else [], 1):
        values = lines.apply(element)
        values.setdefault("line_no", position)
        if "modifiers" in values:
            values["modifiers"] = _modifier_codes(values["modifiers"])
        values["claim_id"] = claim.claim_id  # type: ignore[attr-defined]
        values["last_updated"] = claim.last_updated  # type: ignore[attr-defined]
        at = f"{where} {lines.options['each']}[{position - 1}]"
        out.append(check_record(build_record(record_type, values, where=at), at))
    return out


def parse_bundle(bundle: Any, resource_type: str, mapping: RecordMapping, secret: str,
                 url: str, positions: Sequence[str] | None = None,
                 nesting: int | None = None) -> FhirPage:
    """Validate and convert every entry of a searchset page; bad entries are rejects.
    ``positions`` names each entry's place when it is not ``url#entry<index>`` (a file's
    entries read one resource type at a time, a file of one resource). ``nesting`` is
    the whole page's depth when its reader measured it (``jsonio.loads_nested``): an
    entry sits two levels down (Bundle, entry list), so a page at most
    ``RECORD_DEPTH + 2`` deep has no entry to walk for its own bound."""
    page = FhirPage()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise RecordError(f"{url}: the answer is not a FHIR Bundle")
    page.next_url = next_link(bundle)
    total = bundle.get("total")
    page.total = total if isinstance(total, int) else None
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise RecordError(f"{url}: Bundle.entry is {type(entries).__name__}, not a list")
    lenient = frozenset(mapping.options.get("lenient") or ())
    newest = Latest()
    shallow = nesting is not None and nesting <= jsonio.RECORD_DEPTH + 2
    for index, entry in enumerate(entries):
        where = positions[index] if positions is not None else f"{url}#entry{index}"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        try:
            if not shallow and jsonio.deeper_than(entry, jsonio.RECORD_DEPTH):
                raise RecordError(f"entry nested deeper than {jsonio.RECORD_DEPTH} levels — "
                                  "not a FHIR resource (a hostile or broken document)")
            validate_resource(resource, resource_type, lenient)
            # the watermark moves only over valid resources (a junk date cannot push it)
            newest.offer((resource.get("meta") or {}).get("lastUpdated"))  # type: ignore[union-attr]
            if mapping.options.get("record") == "remittance":  # an EOB: nested lists
                converted, *lines = eob_records(resource, mapping, where) or [None]  # type: ignore[arg-type]
            else:
                converted = convert_resource(resource, mapping, secret, where)  # type: ignore[arg-type]
                lines = (claim_lines(resource, mapping.lines, converted, where)  # type: ignore[arg-type]
                         if mapping.lines is not None
                         and isinstance(converted, CanonicalRecord) else [])
        except RecordError as exc:
            page.rejects.append(Reject(where, exc.reason, jsonio.dumps_payload(entry),
                                       resource_type))
            continue
        except Exception as exc:  # one entry, never its page (collectors.rejects)
            page.rejects.append(Reject(where, unexpected_reason(exc, where),
                                       jsonio.dumps_payload(entry), resource_type))
            continue
        if isinstance(converted, ClaimOutcome):
            page.outcomes.append(converted)
        elif converted is not None:  # None: an EOB still queued at the payer
            page.records.append(converted)
            page.records += lines
    page.newest = newest.value
    return page
