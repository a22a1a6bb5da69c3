"""Collector runs as OpenLineage RunEvents: written by a real collector pass to the file
transport (SQLite and PostgreSQL), posted to a real HTTP server, and never raising."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from sqlalchemy import Engine

from collectors.runner import run_source
from core.config import LineageConfig, Settings, SourceConfig
from core.model import RunStatus
from metrics.lineage.openlineage import emit_collector_run, emit_stored_run
from tests.collectors import payloads as p

CHANNEL = "FAC01_CHG_OUT"


def parse(line: str) -> tuple[RunEvent, dict[str, Any]]:
    """A JSON event back into the library's RunEvent (its validators check the run id is a
    UUID and the times carry a time), plus the raw dict for the facets."""
    raw = json.loads(line)
    assert raw["schemaURL"].endswith("#/$defs/RunEvent")
    event = RunEvent(
        eventType=RunState(raw["eventType"]), eventTime=raw["eventTime"],
        producer=raw["producer"], run=Run(runId=raw["run"]["runId"]),
        job=Job(namespace=raw["job"]["namespace"], name=raw["job"]["name"]),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"])
                for d in raw.get("inputs", [])],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"])
                 for d in raw.get("outputs", [])])
    for facets in _all_facets(raw):
        for facet in facets.values():
            assert facet["_producer"] and facet["_schemaURL"]
    return event, raw


def _all_facets(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield raw["run"].get("facets", {})
    yield raw["job"].get("facets", {})
    for dataset in raw.get("inputs", []):
        yield dataset.get("inputFacets", {})
    for dataset in raw.get("outputs", []):
        yield dataset.get("outputFacets", {})


def test_a_collector_pass_writes_start_and_complete_events(engine: Engine,
                                                           tmp_path: Path) -> None:
    log = tmp_path / "hl7" / CHANNEL / f"{CHANNEL}-20261118.hl7"
    log.parent.mkdir(parents=True)
    log.write_bytes(f"{p.dft(1)}\n{p.ack(1)}\n{p.dft(2)}\n".encode())
    events_file = tmp_path / "lineage" / "events.ndjson"
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(log.parent.parent))
    settings = Settings(database_url=str(engine.url), sources=[source],
                        lineage=LineageConfig(transport="file", path=str(events_file),
                                              namespace="test-estate"))
    result = run_source(settings, engine, source, on_run_finished=emit_stored_run)
    assert result is not None and result.status is RunStatus.OK

    lines = events_file.read_text().splitlines()
    assert len(lines) == 2
    (start, _), (end, raw) = parse(lines[0]), parse(lines[1])
    assert (start.eventType, end.eventType) == (RunState.START, RunState.COMPLETE)
    assert start.run.runId == end.run.runId == result.run_id
    assert (end.job.namespace, end.job.name) == ("test-estate", "collect.engine-logs")
    assert raw["job"]["facets"]["jobType"]["jobType"] == "COLLECTOR"
    assert end.inputs[0].namespace == "file" and end.inputs[0].name == str(log.parent.parent)
    checks = {a["assertion"]: a["success"] for a in
              raw["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert checks == {"source_answered": True, "records_valid": True}
    written = {o["name"].rsplit(".", 1)[-1]: o["outputFacets"]["outputStatistics"].get("rowCount")
               for o in raw["outputs"]}
    assert written == {"interface_messages": 2, "message_usages": None}
    run_facet = raw["run"]["facets"]["chargeline_collectorRun"]
    assert (run_facet["status"], run_facet["recordsWritten"]) == ("ok", 2)


def test_a_failing_pass_is_a_fail_event_with_its_error(engine: Engine, tmp_path: Path) -> None:
    events_file = tmp_path / "events.ndjson"
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(tmp_path / "missing"))
    settings = Settings(database_url=str(engine.url), sources=[source],
                        lineage=LineageConfig(transport="file", path=str(events_file)))
    result = run_source(settings, engine, source, on_run_finished=emit_stored_run)
    assert result is not None and result.status is RunStatus.ERROR
    (_, _), (end, raw) = (parse(line) for line in events_file.read_text().splitlines())
    assert end.eventType is RunState.FAIL
    assert "does not exist" in raw["run"]["facets"]["errorMessage"]["message"]
    assert raw["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0] == {
        "assertion": "source_answered", "success": False, "actual": "error", "params": {}}


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def a_run(**over: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    return {"run_id": "2b0b7c8e-3c4a-4f51-9a0e-5d6f7a8b9c0d", "source": "billing",
            "status": "ok", "started_at": now, "finished_at": now, "records": 7,
            "quarantined": 1, "error_class": "", "error": "", "newest_record_at": now,
            "written_by_table": {"charges": 7},
            "inputs": [{"endpoint": "/billing/fhir/ChargeItem", "rows": 8, "calls": 3,
                        "failed": 1}], **over}


def test_http_transport_posts_to_the_lineage_endpoint(lineage_server: Any) -> None:
    url, received = lineage_server
    billing = SourceConfig(name="billing", kind="fhir_billing",
                           base_url="http://127.0.0.1:8700/billing/fhir")
    settings = Settings(database_url="postgresql+psycopg://u@db.test:5433/store",
                        sources=[billing], lineage=LineageConfig(transport="http", url=url))
    emit_collector_run(settings, a_run())
    assert [path for path, _ in received] == ["/api/v1/lineage"] * 2
    start, end = (event for _, event in received)
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    source = end["inputs"][0]
    assert (source["namespace"], source["name"]) == ("http://127.0.0.1:8700",
                                                     "/billing/fhir/ChargeItem")
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == 8
    assertions = {a["assertion"]: (a["success"], a["actual"]) for a in
                  source["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert assertions == {"source_answered": (True, "1 of 3 calls failed"),
                          "records_valid": (False, "1")}
    outputs = {o["name"]: o["outputFacets"]["outputStatistics"].get("rowCount")
               for o in end["outputs"]}
    assert {o["namespace"] for o in end["outputs"]} == {"postgres://db.test:5433"}
    assert outputs["store.public.charges"] == 7 and outputs["store.public.encounters"] == 0
    assert outputs["store.public.quarantined_records"] == 1
    assert outputs["store.public.claim_outcomes"] is None  # no ingested_at: not countable

    settings = settings.model_copy(update={"lineage": LineageConfig(
        transport="http", url=f"{url}/custom/events")})
    emit_collector_run(settings, a_run())
    assert received[-1][0] == "/custom/events"


def test_an_unreachable_or_unwritable_target_never_raises(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chargeline.lineage")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for lineage in (LineageConfig(transport="http", url="http://127.0.0.1:9"),
                    LineageConfig(transport="file", path=str(blocker / "events.ndjson")),
                    LineageConfig(transport="http", url="not a url")):
        emit_collector_run(Settings(lineage=lineage), a_run())
    assert len([r for r in caplog.records if "not sent" in r.getMessage()]) == 3
    emit_collector_run(Settings(lineage=LineageConfig(transport="none")), a_run())
