"""Backfill from files: HL7 v2 logs, FHIR Bundles or NDJSON, OData JSON pages.

The kind of each file is recognised from its content, not its name. Records go through
the same pure converters and the same per-page transactions as live collection, so a
backfill and a poll of the same data give the same store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from tqdm import tqdm

from chargeline.config import Settings, SourceConfig
from chargeline.errors import RecordError, SourceError
from collectors import jsonio
from collectors.base import CollectContext, Reject
from collectors.fhir_records import parse_bundle
from collectors.gc_window import fewer_collections
from collectors.mapping import load_mapping
from collectors.odata_records import parse_odata_page
from collectors.plugins.fhir import apply_claim_outcomes
from collectors.plugins.hl7_log import LogFile, ingest_log_file


@dataclass
class IngestSummary:
    files: int = 0
    records: int = 0
    written: int = 0
    quarantined: int = 0


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise SourceError(f"{path} does not exist — give files or folders to ingest")


def sniff(path: Path) -> str:
    """``hl7``, ``json`` or ``ndjson`` from the first bytes of a file."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf\x0b\r\n\t ")
    if head.startswith(b"MSH"):
        return "hl7"
    if head.startswith(b"{"):
        first_line = head.split(b"\n", 1)[0].strip()
        try:
            json.loads(first_line)
            return "ndjson" if b"\n{" in head else "json"
        except ValueError:
            return "json"
    return "unknown"


def _fhir_mappings() -> dict[str, Any]:
    return {**load_mapping("fhir_billing"), **load_mapping("fhir_usage")}


def _ingest_bundle(ctx: CollectContext, body: Any, where: str) -> None:
    entries = body.get("entry") or []
    types = sorted({(e.get("resource") or {}).get("resourceType", "") for e in entries
                    if isinstance(e, dict)})
    mappings = _fhir_mappings()
    for resource_type in types:
        mapping = mappings.get(resource_type)
        subset = {**body, "entry": [e for e in entries if isinstance(e, dict) and
                                    (e.get("resource") or {}).get("resourceType")
                                    == resource_type]}
        if mapping is None:
            ctx.commit_page("backfill", [], None, [Reject(
                where, f"no mapping for FHIR resource type {resource_type!r}",
                json.dumps(subset)[:100_000])])
            continue
        page = parse_bundle(subset, resource_type, mapping, ctx.phi_secret, where)
        claim_ids = {r.key()[0] for r in page.records if r.kind == "claim"}
        outcomes = page.outcomes
        ctx.commit_page("backfill", page.records, None, page.rejects,
                        extra=lambda c, o=outcomes, i=claim_ids: apply_claim_outcomes(
                            c, o, i, ctx.source.name))


def _entity_set(body: dict[str, Any], path: Path) -> str:
    context = str(body.get("@odata.context", ""))
    name = context.rsplit("#", 1)[-1] if "#" in context else path.stem
    return name.split("(")[0].split("/")[0]


def ingest_json(ctx: CollectContext, path: Path, raw: bytes) -> None:
    """One JSON file: a FHIR Bundle or an OData page."""
    where = str(path)
    try:
        body = jsonio.loads(raw)
    except ValueError:
        ctx.commit_page("backfill", [], None, [Reject(where, "invalid or truncated JSON", raw)])
        return
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        _ingest_bundle(ctx, body, where)
    elif isinstance(body, dict) and "value" in body:
        entity_set = _entity_set(body, path)
        mapping = load_mapping("odata_erp").get(entity_set)
        if mapping is None:
            ctx.commit_page("backfill", [], None, [Reject(
                where, f"no mapping for OData entity set {entity_set!r}", raw)])
            return
        page = parse_odata_page(body, entity_set, mapping, where)
        ctx.commit_page("backfill", page.records, None, page.rejects)
    else:
        ctx.commit_page("backfill", [], None, [Reject(
            where, "JSON is neither a FHIR Bundle nor an OData page", raw)])


def ingest_ndjson(ctx: CollectContext, path: Path, raw: bytes) -> None:
    """FHIR bulk NDJSON: one resource a line; bad lines are quarantined."""
    entries: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append({"resource": jsonio.loads(line)})
        except ValueError:
            rejects.append(Reject(f"{path}:{number}", "invalid JSON line", line))
    if rejects:
        ctx.commit_page("backfill", [], None, rejects)
    for start in range(0, len(entries), 1000):
        _ingest_bundle(ctx, {"resourceType": "Bundle", "entry": entries[start:start + 1000]},
                       f"{path}")


def ingest_paths(settings: Settings, engine: Engine, paths: list[Path], *,
                 source_name: str = "backfill", progress: bool = False) -> IngestSummary:
    """Ingest every file under ``paths``; return counts of records and quarantined."""
    files = list(iter_files(paths))
    source = SourceConfig(name=source_name, kind="hl7_log", path=".")
    ctx = CollectContext(source, settings, engine, None, str(uuid.uuid4()))
    summary = IngestSummary(files=len(files))
    total = sum(p.stat().st_size for p in files)
    try:
        with fewer_collections(), tqdm(total=total, unit="B", unit_scale=True,
                                       disable=not progress, desc="ingest") as bar:
            for path in files:
                kind = sniff(path)
                if kind == "hl7":
                    channel = path.parent.name or path.stem.split("-")[0]
                    rel = path.as_posix()[-64:]
                    ingest_log_file(ctx, LogFile(path, channel, rel, rotated=True), None,
                                    final=True)
                elif kind in ("json", "ndjson"):
                    raw = path.read_bytes()
                    try:
                        (ingest_json if kind == "json" else ingest_ndjson)(ctx, path, raw)
                    except RecordError as exc:
                        ctx.commit_page("backfill", [], None, [Reject(str(path), exc.reason, raw)])
                else:
                    ctx.commit_page("backfill", [], None, [Reject(
                        str(path), "not an HL7 log, FHIR or OData JSON file",
                        path.read_bytes()[:65536])])
                bar.update(path.stat().st_size)
    finally:
        ctx.close()  # the worker processes of a long HL7 backfill
    summary.records = ctx.totals.fetched
    summary.written = ctx.totals.written
    summary.quarantined = ctx.totals.quarantined
    return summary
