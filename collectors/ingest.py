"""Backfill from files: HL7 v2 logs, FHIR Bundles or NDJSON, OData JSON pages, X12 835
remittance files.

The kind of each file is recognised from its content, not its name. Records go through
the same pure converters, the same field mappings (``collectors.ingest_plan``: a
configured source's ``mapping:`` or ``--mapping KIND=FILE``) and the same per-page
transactions as live collection, so a backfill and a poll of the same data give the same
store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from tqdm import tqdm

from collectors import jsonio
from collectors.base import CollectContext, Reject
from collectors.data.claims import apply_claim_outcomes
from collectors.fhir_records import parse_bundle
from collectors.gc_window import fewer_collections
from collectors.ingest_plan import FHIR_KINDS, IngestPlan
from collectors.mapping import RecordMapping
from collectors.odata_records import parse_odata_page
from collectors.plugins.hl7_log import LogFile, channel_name, ingest_log_file
from collectors.plugins.x12_files import X12File, ingest_x12_file
from collectors.x12_records import is_x12
from core.config import Settings, SourceConfig
from core.errors import ConfigError, RecordError, SourceError


@dataclass
class IngestSummary:
    files: int = 0
    records: int = 0
    written: int = 0
    quarantined: int = 0
    # files of no format Chargeline reads (EDIFACT, CSV, PDF ...): quarantined whole, and
    # the command exits non-zero so a script sees them
    unrecognised: list[str] = field(default_factory=list)


HL7_STARTS = (b"MSH", b"FHS", b"BHS")  # a message, or a batch file's envelope
# formats users feed by mistake, named so the quarantine reason says what the file is
_KNOWN_OTHERS = ((b"UNA", "an EDIFACT interchange"),
                 (b"UNB", "an EDIFACT interchange"), (b"%PDF", "a PDF document"),
                 (b"PK\x03\x04", "a ZIP archive"), (b"<", "an XML or HTML document"),
                 (b"[", "a JSON array (FHIR and OData files are JSON objects)"))
UNRECOGNISED = "not an HL7 v2 log, FHIR JSON/NDJSON, OData JSON or X12 file"


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise SourceError(f"{path} does not exist — give files or folders to ingest")


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096).lstrip(b"\xef\xbb\xbf\x0b\r\n\t ")


def sniff(path: Path) -> str:
    """``hl7``, ``json``, ``ndjson`` or ``x12`` from the first bytes of a file."""
    head = _head(path)
    if head.startswith(HL7_STARTS):
        return "hl7"
    if is_x12(head):
        return "x12"
    if head.startswith(b"{"):
        if path.suffix.lower() in (".ndjson", ".jsonl"):
            return "ndjson"  # the name says so; a long first resource must not hide it
        first_line, rest = _first_line(path)
        try:
            json.loads(first_line)
            return "ndjson" if rest.lstrip(b"\r\n\t ").startswith(b"{") else "json"
        except (ValueError, RecursionError):  # a deep head is JSON's to refuse, with a reason
            return "json"
    return "unknown"


def _first_line(path: Path, limit: int = 16 << 20) -> tuple[bytes, bytes]:
    """The file's first line (an NDJSON resource can be far longer than the sniffed head)
    and a few bytes after it; at most ``limit`` bytes are read."""
    with open(path, "rb") as handle:
        data = handle.read(4096)
        while b"\n" not in data and len(data) < limit:
            more = handle.read(1 << 16)
            if not more:
                break
            data += more
        line, _, rest = data.lstrip(b"\xef\xbb\xbf\x0b\r\n\t ").partition(b"\n")
        return line.strip(), rest[:64] if rest else handle.read(64)


def unrecognised_reason(path: Path) -> str:
    """Why a file is not read, naming what it looks like when that is known."""
    head = _head(path)
    what = next((name for start, name in _KNOWN_OTHERS if head.startswith(start)), "")
    if not head:
        what = "an empty file"
    return f"{UNRECOGNISED}" + (f" (it looks like {what})" if what else "")


# the file family ``sniff`` sees -> the source kinds such a file can hold
_FAMILY_KINDS = {"hl7": ("hl7_log",), "ndjson": FHIR_KINDS, "json": (*FHIR_KINDS, "odata_erp"),
                 "x12": ("x12_files",)}
_FAMILY_NAMES = {"hl7": "an HL7 log", "ndjson": "FHIR NDJSON", "json": "JSON",
                 "x12": "an X12 interchange"}


def foreign_files(plan: IngestPlan, sniffed: list[tuple[Path, str]]) -> list[str]:
    """Files that cannot hold the plan's source kind, as ``path (what it is)``; empty
    without ``--source``. Unrecognised files are not listed: they are quarantined."""
    if not plan.source_kind:
        return []
    return [f"{path} ({_FAMILY_NAMES[family]})" for path, family in sniffed
            if family in _FAMILY_KINDS and plan.source_kind not in _FAMILY_KINDS[family]]


def _stream_mapping(mappings: dict[str, RecordMapping], stream: str, plan: IngestPlan,
                    what: str) -> tuple[RecordMapping | None, str]:
    """The mapping of one stream, or None and the reason a page of it is refused."""
    mapping = mappings.get(stream)
    if mapping is None:
        read = f"source {plan.source_name} ({plan.source_kind}) maps " if plan.source_kind \
            else "the mappings map "
        return None, (f"no mapping for {what} {stream!r}; {read}{', '.join(sorted(mappings))}"
                      " — add a section for it to the mapping file")
    if mapping.options.get("enabled", True) is False:
        return None, (f"{what} {stream!r} is disabled in the mapping (enabled: false), as "
                      "polling skips it — remove that line to read it")
    return mapping, ""


def _ingest_bundle(ctx: CollectContext, plan: IngestPlan, body: dict[str, Any], where: str,
                   raw: bytes, positions: list[str] | None = None) -> None:
    """The entries of a Bundle (or of NDJSON lines, or one resource), one resource type at
    a time; every entry is stored or quarantined at its own position."""
    entries = body.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        ctx.commit_page("backfill", [], None, [Reject(
            where, f"Bundle.entry is {_json_type(entries)}, not a list of entries", raw)])
        return
    positions = positions or [f"{where}#entry{i}" for i in range(len(entries))]
    by_type: dict[str, list[int]] = {}
    rejects = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if isinstance(resource_type, str) and resource_type:
            by_type.setdefault(resource_type, []).append(index)
            continue
        reason = (f"entry is {_json_type(entry)}, not an object" if not isinstance(entry, dict)
                  else f"entry.resource is {_json_type(resource)}, not a resource"
                  if not isinstance(resource, dict) else "resource has no resourceType")
        rejects.append(Reject(positions[index], reason, jsonio.dumps_payload(entry)))
    mappings = plan.fhir_mappings()
    for resource_type, indexes in sorted(by_type.items()):
        mapping, refused = _stream_mapping(mappings, resource_type, plan,
                                           "FHIR resource type")
        kind = resource_type[:32]
        if mapping is None:
            rejects += [Reject(positions[i], refused, jsonio.dumps_payload(entries[i]), kind)
                        for i in indexes]
            continue
        subset = {"resourceType": "Bundle", "entry": [entries[i] for i in indexes]}
        page = parse_bundle(subset, resource_type, mapping, ctx.phi_secret, where,
                            [positions[i] for i in indexes])
        claim_ids = {r.key()[0] for r in page.records if r.kind == "claim"}
        outcomes = page.outcomes
        ctx.commit_page("backfill", page.records, None, page.rejects,
                        extra=lambda c, o=outcomes, i=claim_ids: apply_claim_outcomes(
                            c, o, i, ctx.source.name))
    if rejects:
        ctx.commit_page("backfill", [], None, rejects)


def _json_type(value: Any) -> str:
    """A JSON value's type in JSON's words (for reasons)."""
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _entity_set(body: dict[str, Any], path: Path) -> str:
    context = str(body.get("@odata.context", ""))
    name = context.rsplit("#", 1)[-1] if "#" in context else path.stem
    return name.split("(")[0].split("/")[0]


def _wrong_kind(plan: IngestPlan, what: str, kinds: tuple[str, ...]) -> str:
    """Why a page of ``kinds`` is refused under the plan's source, or ''."""
    if any(plan.reads(k) for k in kinds):
        return ""
    return (f"{what}, but source {plan.source_name} is {plan.source_kind} — ingest it under "
            f"a {' or '.join(kinds)} source, or without --source")


def ingest_json(ctx: CollectContext, plan: IngestPlan, path: Path, raw: bytes) -> None:
    """One JSON file: a FHIR Bundle, a single FHIR resource, or an OData page."""
    where = str(path)
    try:
        body = jsonio.loads(raw)
    except jsonio.JsonBoundError as exc:
        ctx.commit_page("backfill", [], None, [Reject(where, exc.reason, raw)])
        return
    except ValueError:
        ctx.commit_page("backfill", [], None, [Reject(where, "invalid or truncated JSON", raw)])
        return
    resource_type = body.get("resourceType") if isinstance(body, dict) else None
    if isinstance(resource_type, str) and resource_type:
        what = "a FHIR Bundle" if resource_type == "Bundle" else f"a FHIR {resource_type[:40]}"
        refused = _wrong_kind(plan, what, FHIR_KINDS)
        if refused:
            ctx.commit_page("backfill", [], None, [Reject(where, refused, raw)])
        elif resource_type == "Bundle":
            _ingest_bundle(ctx, plan, body, where, raw)
        else:  # one resource a file, as the FHIR examples and many exports come
            _ingest_bundle(ctx, plan, {"entry": [{"resource": body}]}, where, raw, [where])
    elif isinstance(body, dict) and "value" in body:
        entity_set = _entity_set(body, path)
        refused = _wrong_kind(plan, "an OData page", ("odata_erp",))
        mapping = None
        if not refused:
            mapping, refused = _stream_mapping(plan.mappings("odata_erp"), entity_set, plan,
                                               "OData entity set")
        if mapping is None:
            ctx.commit_page("backfill", [], None, [Reject(where, refused, raw)])
            return
        page = parse_odata_page(body, entity_set, mapping, where)
        ctx.commit_page("backfill", page.records, None, page.rejects)
    else:
        ctx.commit_page("backfill", [], None, [Reject(
            where, "JSON is neither a FHIR resource or Bundle (no resourceType) nor an "
                   "OData page (no value list)", raw)])


def ingest_ndjson(ctx: CollectContext, plan: IngestPlan, path: Path, raw: bytes) -> None:
    """FHIR bulk NDJSON: one resource a line; bad lines are quarantined."""
    entries: list[Any] = []
    positions: list[str] = []
    rejects: list[Reject] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append({"resource": jsonio.loads(line)})
            positions.append(f"{path}:{number}")
        except jsonio.JsonBoundError as exc:
            rejects.append(Reject(f"{path}:{number}", exc.reason, line))
        except ValueError:
            rejects.append(Reject(f"{path}:{number}", "invalid JSON line", line))
    if rejects:
        ctx.commit_page("backfill", [], None, rejects)
    for start in range(0, len(entries), 1000):
        _ingest_bundle(ctx, plan, {"resourceType": "Bundle",
                                   "entry": entries[start:start + 1000]}, f"{path}", b"",
                       positions[start:start + 1000])


MAX_KEPT_BYTES = 64 << 20  # an unrecognised file's bytes kept in its quarantine row


def _kept_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(MAX_KEPT_BYTES)


def ingest_paths(settings: Settings, engine: Engine, paths: list[Path], *,
                 source_name: str = "backfill", plan: IngestPlan | None = None,
                 progress: bool = False) -> IngestSummary:
    """Ingest every file under ``paths`` as ``plan`` says (default: every kind with its
    default mapping, rows recorded under ``source_name``); return counts of records and
    quarantined. Under a source, files that cannot be of its kind are refused before
    anything is written."""
    plan = plan or IngestPlan(source_name=source_name)
    sniffed = [(path, sniff(path)) for path in iter_files(paths)]
    foreign = foreign_files(plan, sniffed)
    if foreign:
        shown = "; ".join(foreign[:5]) + (f"; and {len(foreign) - 5} more"
                                          if len(foreign) > 5 else "")
        raise ConfigError(f"--source {plan.source_name} is a {plan.source_kind} source, and "
                          f"these files cannot be: {shown} — ingest them under a source of "
                          "their kind, or without --source")
    # the HL7 converter reads its mapping file from the context's source
    source = SourceConfig(name=plan.source_name, kind="hl7_log", path=".",
                          mapping=plan.mapping_file("hl7_log"))
    ctx = CollectContext(source, settings, engine, None, str(uuid.uuid4()))
    # X12 files read with their source's payee -> facility map, when --source names one
    x12_source = next((s for s in settings.sources if s.name == plan.source_name
                       and s.kind == "x12_files"),
                      SourceConfig(name=plan.source_name, kind="x12_files", path="."))
    x12_ctx = CollectContext(x12_source, settings, engine, None, ctx.run_id,
                             totals=ctx.totals)
    summary = IngestSummary(files=len(sniffed))
    total = sum(p.stat().st_size for p, _ in sniffed)
    try:
        with fewer_collections(), tqdm(total=total, unit="B", unit_scale=True,
                                       disable=not progress, desc="ingest") as bar:
            for path, kind in sniffed:
                if kind == "hl7":
                    channel = channel_name(path.parent.name or path.stem.split("-")[0])
                    rel = path.as_posix()[-64:]
                    try:
                        ingest_log_file(ctx, LogFile(path, channel, rel, rotated=True), None,
                                        final=True)
                    except SourceError as exc:  # this file alone; the next is read
                        ctx.commit_page("backfill", [], None, [Reject(
                            str(path), str(exc), _kept_bytes(path), "interface_message")])
                elif kind == "x12":
                    ingest_x12_file(x12_ctx, X12File(path, path.as_posix()[-64:]), None,
                                    final=True)
                elif kind in ("json", "ndjson"):
                    raw = path.read_bytes()
                    try:
                        (ingest_json if kind == "json" else ingest_ndjson)(ctx, plan, path,
                                                                           raw)
                    except RecordError as exc:
                        ctx.commit_page("backfill", [], None, [Reject(str(path), exc.reason, raw)])
                else:
                    # kept whole, every byte (sealed), and reported: the exit is non-zero
                    summary.unrecognised.append(str(path))
                    kept = _kept_bytes(path)
                    size = path.stat().st_size
                    cut = (f"; its first {len(kept):,} of {size:,} bytes are kept"
                           if size > len(kept) else "")
                    ctx.commit_page("backfill", [], None, [Reject(
                        str(path), unrecognised_reason(path) + cut, kept)])
                bar.update(path.stat().st_size)
    finally:
        ctx.close()  # the worker processes of a long HL7 backfill
    summary.records = ctx.totals.fetched
    summary.written = ctx.totals.written
    summary.quarantined = ctx.totals.quarantined
    return summary
