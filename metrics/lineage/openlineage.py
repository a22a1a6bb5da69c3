"""Every collector run as OpenLineage RunEvents (START, then COMPLETE or FAIL), with
data-quality facets, sent through the transport ``settings.lineage`` names.

API::

    build_run_events(settings, run) -> [RunEvent, RunEvent]   # pure
    emit_collector_run(settings, run) -> None    # never raises: logs and carries on
    metrics.lineage.data.run_facts(engine, run_id) -> dict   # a run's row + what it wrote
    emit_stored_run(settings, engine, run_id)    # after each run (chargeline.wiring); never raises

``run`` is a ``collector_runs`` row as a dict (``run_id``, ``source``, ``status``
ok|nodata|error|running, ``started_at``, ``finished_at``, ``records`` written,
``quarantined``, ``error_class``, ``error``, ``newest_record_at``), optionally with
``written_by_table`` ({table: rows}) and ``inputs`` ([{endpoint, rows, calls, failed}]).

Job: ``{namespace: settings.lineage.namespace, name: "collect.<source>"}``. Inputs: each
endpoint the run called (namespace: the source's ``scheme://host[:port]``; name: the URL
path), or the source itself (its base URL path, or the HL7 log folder in namespace
``file``), with ``dataQualityMetrics`` (rows read) and ``dataQualityAssertions``
(``source_answered``, ``records_valid``: nothing quarantined). Outputs: the store tables
the source kind writes (namespace ``postgres://host:port`` with ``db.public.table`` names, or
``sqlite://<file>``), with ``outputStatistics`` rows written, plus ``quarantined_records``
when rows were quarantined. Run facets: ``processing_engine``, ``chargeline_collectorRun``
(status, counts) and, on FAIL, ``errorMessage``.

Transports are the library's own (``FileTransport`` appending one JSON event per line,
``HttpTransport`` posting to ``url``; an URL without a path posts to ``/api/v1/lineage``)
used directly, not through ``OpenLineageClient``, which would also read ``openlineage.yml``
and ``OPENLINEAGE_*`` variables from wherever the collector runs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport
from openlineage.client.transport.transport import Transport
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from core.config import Settings, SourceConfig
from metrics.lineage.data import COUNTED, run_facts

log = logging.getLogger("chargeline.lineage")

PRODUCER = "urn:chargeline:collectors"
VERSION = "0.1.0"
HTTP_TIMEOUT_S = 5.0
HTTP_RETRY = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2,
              "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["POST"]}
TABLES_OF_KIND = {
    "fhir_billing": ("charges", "encounters", "claims", "claim_lines", "claim_outcomes"),
    "fhir_usage": ("usage_events",),
    "odata_erp": ("items", "item_uoms", "reorder_points", "cdm_entries", "crosswalks",
                  "contract_prices", "locations", "facilities", "inventory_transactions",
                  "replenishment_documents"),
    "hl7_log": ("interface_messages", "message_usages"),
    "mllp": ("interface_messages", "message_usages"),
    "engine_stats": ("channel_stats",),
    "x12_files": ("remittances", "remittance_lines", "remittance_adjustments", "claims",
                  "claim_lines"),
}


@attr.define
class CollectorRunFacet(RunFacet):
    """Chargeline's own run facet: how the collector pass ended and what it counted."""

    status: str
    collectorId: str = attr.field(default="")
    recordsWritten: int = attr.field(default=0)
    quarantined: int = attr.field(default=0)
    newestRecordAt: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return "urn:chargeline:facets:1-0-0:CollectorRunFacet"


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID; collector run ids are uuid4, anything else is mapped."""
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chargeline:run:{run_id}"))


def store_namespace(database_url: str) -> tuple[str, str]:
    """(namespace, table-name prefix) of the store, after the OpenLineage naming spec."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return f"postgres://{url.host or 'localhost'}:{url.port or 5432}", \
            f"{url.database}.public."
    return f"sqlite://{Path(url.database or ':memory:').resolve()}", ""


def _source_dataset(config: SourceConfig | None, name: str) -> tuple[str, str]:
    if config is None:
        return "chargeline-source", name
    if config.base_url:
        parts = urlsplit(config.base_url)
        return f"{parts.scheme}://{parts.netloc}", parts.path or "/"
    return "file", str(Path(config.path).resolve()) if config.path else name


def _inputs(settings: Settings, run: Mapping[str, Any], config: SourceConfig | None
            ) -> list[InputDataset]:
    ns, base_name = _source_dataset(config, str(run["source"]))
    quarantined = int(run.get("quarantined") or 0)
    failed_run = run.get("status") == "error"
    endpoints = list(run.get("inputs") or []) or [
        {"endpoint": base_name, "rows": run.get("rows_read"), "calls": 0, "failed": 0}]
    out = []
    for entry in endpoints:
        calls, failed = int(entry.get("calls") or 0), int(entry.get("failed") or 0)
        answered = not failed_run if not calls else failed < calls
        assertions = [
            data_quality_assertions_dataset.Assertion(
                assertion="source_answered", success=answered,
                actual=f"{failed} of {calls} calls failed" if calls else str(run.get("status"))),
            data_quality_assertions_dataset.Assertion(
                assertion="records_valid", success=quarantined == 0, expected="0",
                actual=str(quarantined), description="records quarantined in this run"),
        ]
        rows = entry.get("rows")
        facets: dict[str, Any] = {
            "dataQualityAssertions": data_quality_assertions_dataset
            .DataQualityAssertionsDatasetFacet(assertions=assertions, producer=PRODUCER),
            "dataQualityMetrics": data_quality_metrics_input_dataset
            .DataQualityMetricsInputDatasetFacet(
                columnMetrics={}, rowCount=None if rows is None else int(rows),
                producer=PRODUCER),
        }
        out.append(InputDataset(namespace=ns, name=str(entry.get("endpoint") or base_name),
                                inputFacets=facets))
    return out


def _outputs(settings: Settings, run: Mapping[str, Any], config: SourceConfig | None
             ) -> list[OutputDataset]:
    """The store tables of the source's kind and any it wrote; rows per table when known."""
    ns, prefix = store_namespace(settings.database_url)
    known = run.get("written_by_table")
    written: dict[str, int] = dict(known or {})
    tables = list(TABLES_OF_KIND.get(config.kind, ()) if config else ())
    tables += [t for t in written if t not in tables]
    quarantined = int(run.get("quarantined") or 0)
    if quarantined and "quarantined_records" not in tables:
        written.setdefault("quarantined_records", quarantined)
        tables.append("quarantined_records")

    def rows(table: str) -> int | None:
        if table == "quarantined_records" or (known is not None and table in COUNTED):
            return int(written.get(table, 0))
        return None  # unknown: only the run's total is (in chargeline_collectorRun)

    return [OutputDataset(namespace=ns, name=f"{prefix}{table}", outputFacets={
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows(table), producer=PRODUCER)}) for table in tables]


def build_run_events(settings: Settings, run: Mapping[str, Any]) -> list[RunEvent]:
    """The START and terminal (COMPLETE, or FAIL for an error or an unfinished run) events."""
    name = str(run["source"])
    config = next((s for s in settings.sources if s.name == name), None)
    job = Job(namespace=settings.lineage.namespace, name=f"collect.{name}", facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH",
                                                integration="CHARGELINE",
                                                jobType="COLLECTOR", producer=PRODUCER)})
    run_id = _run_uuid(str(run["run_id"]))
    engine_facet = processing_engine_run.ProcessingEngineRunFacet(
        version=VERSION, name="chargeline", producer=PRODUCER)
    started = _iso(run.get("started_at")) or _iso(datetime.now(UTC))
    start = RunEvent(eventType=RunState.START, eventTime=started, producer=PRODUCER,
                     run=Run(runId=run_id, facets={"processing_engine": engine_facet}), job=job)
    status = str(run.get("status") or "")
    failed = status not in ("ok", "nodata")
    facets: dict[str, Any] = {
        "processing_engine": engine_facet,
        "chargeline_collectorRun": CollectorRunFacet(
            status=status, collectorId=str(run.get("collector_id") or ""),
            recordsWritten=int(run.get("records") or 0),
            quarantined=int(run.get("quarantined") or 0),
            newestRecordAt=_iso(run.get("newest_record_at")), producer=PRODUCER),
    }
    if failed:
        message = ": ".join(p for p in (str(run.get("error_class") or ""),
                                        str(run.get("error") or "")) if p)
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message or f"run ended with status {status or 'unknown'}",
            programmingLanguage="python", producer=PRODUCER)
    end = RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=_iso(run.get("finished_at")) or _iso(datetime.now(UTC)), producer=PRODUCER,
        run=Run(runId=run_id, facets=facets), job=job,
        inputs=_inputs(settings, run, config), outputs=_outputs(settings, run, config))
    return [start, end]


_transports: dict[tuple[str, str], Transport] = {}
_lock = threading.Lock()


def transport_for(settings: Settings) -> Transport | None:
    """The configured transport (cached per target), or None for ``transport: none``."""
    cfg = settings.lineage
    if cfg.transport == "none":
        return None
    target = cfg.path if cfg.transport == "file" else cfg.url
    key = (cfg.transport, target)
    with _lock:
        if key not in _transports:
            if cfg.transport == "file":
                Path(cfg.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
                _transports[key] = FileTransport(FileConfig(
                    log_file_path=str(Path(cfg.path).expanduser()), append=True))
            else:
                parts = urlsplit(cfg.url)
                if not parts.scheme or not parts.netloc:
                    raise ValueError(f"lineage.url {cfg.url!r} is not an http(s) URL — e.g. "
                                     "http://marquez:5000")
                endpoint = parts.path.lstrip("/") or "api/v1/lineage"
                _transports[key] = HttpTransport(HttpConfig(
                    url=f"{parts.scheme}://{parts.netloc}/", endpoint=endpoint,
                    timeout=HTTP_TIMEOUT_S, retry=HTTP_RETRY))
        return _transports[key]


def emit_collector_run(settings: Settings, run: Mapping[str, Any]) -> None:
    """Send the run's START and COMPLETE/FAIL events; a failure is logged, never raised."""
    try:
        transport = transport_for(settings)
        if transport is None:
            return
        events = build_run_events(settings, run)
        with _lock:  # one writer at a time keeps file lines whole
            for event in events:
                transport.emit(event)
    except Exception as exc:  # lineage must never break a collection pass
        log.warning("OpenLineage events of run %s (%s) not sent via %s: %s",
                    run.get("run_id"), run.get("source"), settings.lineage.transport, exc)


def emit_stored_run(settings: Settings, engine: Engine, run_id: str) -> None:
    """Emit a finished collector run from what the store holds; never raises."""
    if settings.lineage.transport == "none":
        return
    try:
        run = run_facts(engine, run_id)
    except Exception as exc:
        log.warning("OpenLineage: cannot read collector run %s: %s", run_id, exc)
        return
    if run is None:
        log.warning("OpenLineage: collector run %s not found in the store", run_id)
        return
    emit_collector_run(settings, run)
