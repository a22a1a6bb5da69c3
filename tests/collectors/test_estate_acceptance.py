"""Acceptance against the demo estate (the simulator over real HTTP, its HL7 logs on disk):
after collection the store holds exactly what was served — 0 lost, 0 duplicated — with
injected 5xx, timeouts, 429s, truncated pages and malformed HL7; incremental polls catch
records that become visible late; a re-poll finds nothing and writes nothing; names,
MRNs and birth dates never reach the store or the logs. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from collectors.runner import run_source
from core.config import Settings
from core.model import RunStatus
from simulator.hl7log import Hl7LogWriter
from simulator.timefmt import parse_iso_us
from store.schema import api_calls, collector_runs, metadata
from tests.collectors.estate_check import assert_exactly_once, sources_for

# every HTTP fault kind on a share of first attempts, malformed HL7 among the messages
FAULTY: dict[str, Any] = {"faults": "high", "http_5xx": 0.08, "http_429": 0.05,
                          "timeout": 0.06, "truncated_json": 0.08, "malformed_hl7": 0.02}
SERVER_STALL_SECONDS = 1.0  # a timeout fault answers after this ...
CLIENT_TIMEOUT_SECONDS = 0.4  # ... so the collector gives up first


SEALED = re.compile(r"fernet:\d+:[A-Za-z0-9_\-=]+")
PATIENT_TABLES = ("logs", "encounters", "usage_events", "charges", "claims", "claim_outcomes",
                  "interface_messages", "message_usages", "quarantined_records",
                  "collector_runs", "api_calls", "source_watermarks")


def no_sleep(_seconds: float) -> None:
    """Backoff and Retry-After waits are proven in test_http_collectors; skip them here."""


def collect_all(engine: Engine, settings: Settings) -> list[Any]:
    return [run_source(settings, engine, src, sleep=no_sleep) for src in settings.sources]


def test_a_faulty_estate_is_collected_exactly_once_and_a_repoll_writes_nothing(
        engine: Engine, estate_factory: Any) -> None:
    running = estate_factory(fresh=True, timeout_fault_seconds=SERVER_STALL_SECONDS, **FAULTY)
    sources = sources_for(running, CLIENT_TIMEOUT_SECONDS, page_size=50)
    settings = Settings(database_url=str(engine.url), sources=sources)
    results = collect_all(engine, settings)
    assert [r.status for r in results] == [RunStatus.OK] * 5, [r.error for r in results]
    assert_exactly_once(engine, running.estate)

    # every kind of HTTP fault was served, and each shows in the call log as retried
    served_kinds = {f["kind"] for f in running.truth["http_faults"]}
    assert served_kinds == {"http_5xx", "http_429", "timeout", "truncated_json"}
    with engine.connect() as conn:
        classes = set(conn.execute(select(api_calls.c.error_class).distinct()).scalars())
    assert {"ServerError", "TooManyRequests", "ReadTimeout", "TruncatedJson"} <= classes
    assert sum(r.quarantined for r in results) == sum(
        f["kind"] == "malformed_hl7" for f in running.truth["faults"]) > 0

    with engine.connect() as conn:
        newest_before = conn.execute(text("SELECT max(ingested_at) FROM charges")).scalar()
    again = collect_all(engine, settings)
    assert [r.status for r in again] == [RunStatus.NODATA] * 5, [r.error for r in again]
    assert all(r.written == 0 and r.quarantined == 0 for r in again)
    assert_exactly_once(engine, running.estate)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT max(ingested_at) FROM charges")).scalar() == \
            newest_before


def test_incremental_polls_catch_records_that_become_visible_late(
        engine: Engine, estate_factory: Any, tmp_path: Any) -> None:
    running = estate_factory(fresh=True, faults="none", out_of_order=0.03)
    estate, truth = running.estate, running.truth
    late = [f for f in truth["faults"] if f["kind"] == "out_of_order"]
    assert late, "the estate should hold out-of-order records"
    # poll inside each late record's window (updated, not yet visible) and on a grid
    clock = [0]
    running.server.clock = lambda: clock[0]
    times = {parse_iso_us(f["visible_at"]) // 1000 - 1000 for f in late[:6]}
    times |= set(range(estate.start_ms + 6 * 3600_000, estate.end_ms, 6 * 3600_000))
    times.add(estate.end_ms)
    logs = tmp_path / "hl7"
    writer = Hl7LogWriter(estate.hl7, logs)
    writer.reset()
    sources = [s for s in sources_for(running, 5.0)  # the default overlap window
               if s.kind in ("fhir_billing", "fhir_usage", "odata_erp", "hl7_log")]
    sources = [s.model_copy(update={"path": str(logs)}) if s.kind == "hl7_log" else s
               for s in sources]
    settings = Settings(database_url=str(engine.url), sources=sources)
    for now in sorted(times):
        clock[0] = now
        writer.write_until(now)
        results = collect_all(engine, settings)
        assert all(r.status is not RunStatus.ERROR for r in results), [r.error for r in results]
    assert_exactly_once(engine, estate)  # the late ones included


def test_names_mrns_and_birth_dates_never_reach_the_store_or_the_logs(
        engine: Engine, estate_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    # malformed HL7 on: the quarantine holds whole messages, names and MRNs included,
    # encrypted (core/sealing.py), so its payloads are searched too
    running = estate_factory(faults="none", malformed_hl7=0.05)
    settings = Settings(database_url=str(engine.url),
                        sources=sources_for(running, 5.0, page_size=200))
    with caplog.at_level(logging.DEBUG):
        results = collect_all(engine, settings)
    assert all(r.status is RunStatus.OK for r in results)
    assert sum(r.quarantined for r in results) > 0
    patients = {enc.patient.patient_id: enc.patient
                for fac in running.estate.facilities for enc in fac.encounters}
    needles, family_names = set(), set()
    for pt in patients.values():
        iso_birth = f"{pt.birth_date[:4]}-{pt.birth_date[4:6]}-{pt.birth_date[6:]}"
        family, given = pt.family.upper(), pt.given.upper()
        needles |= {pt.mrn, pt.birth_date, iso_birth, f"{family}^{given}", f"{family}, {given}",
                    f"{given} {family}"}
        family_names.add(family)
    assert len(patients) > 20
    haystacks = {"logs": caplog.text.upper()}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if not inspect(conn).has_table(table.name):
                continue
            rows = conn.execute(select(table)).all()
            # a sealed payload is ciphertext (urlsafe base64): its random letters can spell a
            # short family name between two '-'; that it holds no clear text is
            # tests/collectors/test_quarantine_phi.py's to prove
            haystacks[table.name] = SEALED.sub("<sealed>", "\n".join(
                "|".join(map(str, r)) for r in rows)).upper()
        tokens = conn.execute(text("SELECT count(DISTINCT patient_token) FROM encounters")
                              ).scalar_one()
        assert conn.execute(select(func.count()).select_from(collector_runs)).scalar_one() == 5
    # a digit needle (an MRN, a birth date) counts only as a whole number: a duration of
    # 3.20000704 ms is not the birth date 20000704
    found = {(name, needle) for name, hay in haystacks.items() for needle in needles
             if len(needle) >= 4 and needle in hay
             and (not needle.isdigit() or re.search(rf"(?<![\d.]){needle}(?!\d)", hay))}
    # a bare family name may be a supplier or a hospital ("Smith", "St Mary"): look for it
    # only where patient data flows
    for name in PATIENT_TABLES:
        found |= {(name, f) for f in family_names
                  if re.search(rf"\b{re.escape(f)}\b", haystacks.get(name, ""))}
    assert not found, sorted(found)[:10]
    assert tokens > 20  # patients are still told apart, by their keyed token
