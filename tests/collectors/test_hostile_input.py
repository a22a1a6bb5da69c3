"""Hostile input and real samples (issue 18): what a user feeds Chargeline never ends in a
traceback, a failed page or a poisoned source. Every input is stored, quarantined with a
reason (source, position, its exact bytes, sealed), or counted; a poison record costs one
quarantine row, and the good records after it are stored.

Real shapes from ``tests/data`` (README there names sources and licences), then a fuzz
property over HL7, FHIR JSON and OData JSON files through ``chargeline ingest``'s code
path, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from collectors.base import CollectContext
from collectors.cli import cli
from collectors.ingest import ingest_paths
from collectors.plugins import hl7_log
from collectors.plugins.hl7_log import Hl7LogCollector
from collectors.rejects import UNEXPECTED
from core.config import Settings, SourceConfig
from core.sealing import sealer_for
from store.schema import charges, interface_messages, quarantined_records
from tests.collectors import payloads as p
from tests.collectors.hostile import hl7_file, ingest_with_good_after, json_file

DATA = Path(__file__).parents[1] / "data"


def quarantined(engine: Engine, source: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(quarantined_records)
                            .where(quarantined_records.c.source == source)
                            .order_by(quarantined_records.c.position)).all()


def inbox(tmp_path: Path) -> Path:
    """A folder of its own: ``tmp_path`` holds the SQLite store of the test."""
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def messages(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(interface_messages).order_by(
            interface_messages.c.control_id)).all()


# --- real samples -------------------------------------------------------------------------

def test_an_hl7_v28_oru_with_hd_facilities_lf_and_bom_is_stored(engine: Engine,
                                                                tmp_path: Path) -> None:
    tmp_path = inbox(tmp_path)
    shutil.copy(DATA / "hl7" / "oru-r01-v2.8-hd-lf-bom.hl7", tmp_path / "LAB-1.hl7")
    summary = ingest_paths(Settings(), engine, [tmp_path])
    assert (summary.records, summary.quarantined) == (1, 0)
    (row,) = messages(engine)
    # MSH-4 is an HD: its namespace id (HD.1), not the 48-character composite
    assert (row.facility_id, row.control_id, row.message_type, row.encounter_id) == (
        "IA Public Health Lab", "LAB-2024-0001", "ORU^R01", "V0001")


def test_an_hl7_batch_file_is_read_message_by_message(engine: Engine, tmp_path: Path) -> None:
    tmp_path = inbox(tmp_path)
    shutil.copy(DATA / "hl7" / "batch-fhs-bhs-v2.5.1-cr.hl7", tmp_path / "ADT-batch.hl7")
    summary = ingest_paths(Settings(), engine, [tmp_path])
    assert (summary.records, summary.quarantined, summary.unrecognised) == (2, 0, [])
    assert [(m.control_id, m.encounter_id) for m in messages(engine)] == [
        ("BATCH-MSG-1", "ENC-B-0001"), ("BATCH-MSG-2", "ENC-B-0002")]


def test_public_hl7_samples_are_stored(engine: Engine, tmp_path: Path) -> None:
    """python-hl7's samples (BSD): the HL7 Normative Edition's v2.4 ORU (whose PID-7 is
    not a valid date: nothing reads it) and a v2.5 VINAH batch file with FHS/BHS/BTS/FTS."""
    tmp_path = inbox(tmp_path)
    for sample in sorted((DATA / "hl7" / "public").glob("*.hl7")):
        shutil.copy(sample, tmp_path / sample.name)
    summary = ingest_paths(Settings(), engine, [tmp_path])
    assert (summary.records, summary.quarantined, summary.unrecognised) == (2, 0, [])
    assert sorted((m.control_id, m.facility_id, m.message_type) for m in messages(engine)) \
        == [("12334456778890", "ABCHS", "ADT^A04"), ("CNTRL-3456", "ELAB-3", "ORU^R01")]


def test_the_official_encounter_example_is_read_as_one_resource(engine: Engine,
                                                                tmp_path: Path) -> None:
    """R4's Encounter/example, one resource a file: read through the Encounter mapping;
    it names no service provider and no lastUpdated, so it is quarantined naming those
    fields — never refused as not a Bundle, never a crash (PostgreSQL included)."""
    tmp_path = inbox(tmp_path)
    shutil.copy(DATA / "fhir" / "encounter-example.json", tmp_path / "encounter.json")
    summary = ingest_paths(Settings(), engine, [tmp_path], source_name="fhir-files")
    (row,) = quarantined(engine, "fhir-files")
    assert summary.quarantined == 1 and row.record_kind == "Encounter"
    assert "facility_id" in row.reason and "Bundle" not in row.reason


def test_a_single_official_fhir_resource_is_read_not_refused(engine: Engine,
                                                             tmp_path: Path) -> None:
    """The spec's ChargeItem example, one resource a file: read through the ChargeItem
    mapping. It carries no meta.lastUpdated and no facility, so the mapping quarantines it
    naming those fields — never 'neither a FHIR Bundle nor an OData page'."""
    tmp_path = inbox(tmp_path)
    path = tmp_path / "chargeitem-example.json"
    shutil.copy(DATA / "fhir" / "chargeitem-example.json", path)
    summary = ingest_paths(Settings(), engine, [tmp_path], source_name="fhir-files")
    (row,) = quarantined(engine, "fhir-files")
    assert summary.quarantined == 1 and row.position == str(path)
    assert row.record_kind == "ChargeItem"
    assert "last_updated" in row.reason and "Bundle" not in row.reason
    # with what the mapping needs, the same resource is stored
    resource = json.loads(path.read_text())
    resource.update(meta={"lastUpdated": "2017-01-26T00:00:00+01:00"},
                    extension=[{"url": "urn:chargeline:facility", "valueString": "FAC-EBM"}],
                    occurrenceDateTime="2017-01-25T08:00:00+01:00")
    resource.pop("occurrencePeriod")
    path.write_text(json.dumps(resource))
    summary = ingest_paths(Settings(), engine, [tmp_path], source_name="fhir-files")
    assert (summary.records, summary.quarantined) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(charges.c.charge_id, charges.c.encounter_id)).all() == [
            ("654321", "example")]


def test_edifact_and_other_files_are_quarantined_whole_and_reported(engine: Engine,
                                                                    tmp_path: Path) -> None:
    tmp_path = inbox(tmp_path)
    edifact = b"UNB+UNOA:1+SENDER+RECEIVER+240315:1030+1'UNH+1+INVOIC:D:96A:UN'"
    (tmp_path / "invoices.edi").write_bytes(edifact)
    summary = ingest_paths(Settings(), engine, [tmp_path], source_name="mixed")
    assert summary.unrecognised == [str(tmp_path / "invoices.edi")]
    (row,) = quarantined(engine, "mixed")
    assert "EDIFACT" in row.reason
    assert sealer_for(Settings()).open(row.raw_payload) == edifact  # every byte kept


def test_the_ingest_command_exits_non_zero_for_unrecognised_files(tmp_path: Path) -> None:
    # the package's own ``cli``, unmounted and unwired: ingest needs neither
    (tmp_path / "invoices.edi").write_bytes(b"UNB+UNOA:1+SENDER'")
    (tmp_path / "chargeline.yaml").write_text(
        f"database_url: sqlite:///{tmp_path / 'store.db'}\n")
    env = {"CHARGELINE_CONFIG": str(tmp_path / "chargeline.yaml")}
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "invoices.edi")], env=env)
    assert result.exit_code == 4, result.output
    assert "not HL7 v2, FHIR JSON, OData JSON or X12" in result.output


# --- poison records -----------------------------------------------------------------------

def test_a_poison_hl7_message_costs_one_row_and_the_next_pass_succeeds(
        engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "DFT_OUT"
    folder.mkdir()
    poison = [p.dft(1).replace("MSG-FAC01-0000001", "X" * 80),  # control id > 64
              p.dft(2).replace("|EHR|FAC01|", "|EHR|" + "F" * 40 + "|"),  # facility > 32
              p.dft(3).replace("MSG-FAC01-0000003", "MSG\x00NUL"),  # NUL
              p.dft(4).replace("|DFT^P03|", "|DFT^" + "P" * 30 + "|")]  # type > 16
    good = [p.dft(n) + p.ack(n) for n in (5, 6)]
    log = folder / "DFT_OUT-20261118.hl7"
    log.write_bytes("\n".join([*poison, *good]).encode() + b"\n")
    source = SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path))
    for attempt in range(2):  # the second pass reads nothing new and fails nothing
        ctx = CollectContext(source, Settings(), engine, None, f"run{attempt}")
        Hl7LogCollector().poll(ctx)
        assert ctx.totals.stream_errors == []
    rows = quarantined(engine, "logs")
    assert [m.control_id for m in messages(engine)] == ["MSG-FAC01-0000005",
                                                        "MSG-FAC01-0000006"]
    assert len(rows) == 4
    reasons = " ".join(r.reason for r in rows)
    for field in ("control_id: 80 characters, longer than the store's 64",
                  "facility_id: 40 characters", "NUL", "message_type: 34 characters"):
        assert field in reasons
    assert "X" * 80 not in reasons  # the value itself is never in the reason


def test_a_log_without_a_message_end_for_megabytes_costs_rows_not_the_source(
        engine: Engine, tmp_path: Path, monkeypatch: Any) -> None:
    """Past the bound of one message (4 read chunks: 16 MB, made 256 KB here) with no
    message end, the bytes are quarantined and reading goes on: the messages after them
    are stored and the next pass reads nothing new and fails nothing (it raised
    SourceError on every pass, the source stuck on that file)."""
    monkeypatch.setattr(hl7_log, "CHUNK_BYTES", 64 << 10)
    folder = tmp_path / "DFT_OUT"
    folder.mkdir()
    giant = b"MSH|^~\\&|EHR|FAC01|" + b"A" * (600 << 10)
    log = folder / "DFT_OUT-20261118.hl7"
    first = (p.dft(1) + p.ack(1) + "\n").encode()
    log.write_bytes(first + giant + b"\n" + (p.dft(2) + p.ack(2) + "\n").encode())
    source = SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path))
    for attempt in range(2):
        ctx = CollectContext(source, Settings(), engine, None, f"run{attempt}")
        Hl7LogCollector().poll(ctx)
        assert ctx.totals.stream_errors == []
    assert [m.control_id for m in messages(engine)] == ["MSG-FAC01-0000001",
                                                        "MSG-FAC01-0000002"]
    rows = sorted(quarantined(engine, "logs"), key=lambda r: int(r.position.split("@")[1]))
    assert "no message end in" in rows[0].reason and rows[0].position.endswith(f"@{len(first)}")
    kept = b"".join(sealer_for(Settings()).open(r.raw_payload) for r in rows)
    assert kept.strip() == giant  # every byte of it kept, in its rows (the tail: a 2nd)


def test_a_repeated_bad_payload_is_one_row_per_position_with_its_exact_bytes(
        engine: Engine, tmp_path: Path) -> None:
    garbage = b"\xff\xfe binary \x00\x01 junk"
    tmp_path = inbox(tmp_path)
    folder = tmp_path / "CH"
    folder.mkdir()
    log = p.dft(1).encode() + b"\n\n" + garbage + b"\n\n" + garbage + b"\n"
    (folder / "CH-1.hl7").write_bytes(log)
    ingest_paths(Settings(), engine, [tmp_path], source_name="bin")
    ingest_paths(Settings(), engine, [tmp_path], source_name="bin")  # re-read: nothing new
    rows = quarantined(engine, "bin")
    assert len(rows) == 2 and len({r.position for r in rows}) == 2
    assert all(sealer_for(Settings()).open(r.raw_payload) == garbage for r in rows)


def test_bad_bundles_quarantine_each_entry_and_the_next_file_is_read(
        engine: Engine, tmp_path: Path) -> None:
    tmp_path = inbox(tmp_path)
    (tmp_path / "a-deep.json").write_text(  # json.loads itself fails on it: RecursionError
        '{"resourceType": "Bundle", "entry": ' + "[" * 5000 + '"x"' + "]" * 5000 + "}")
    (tmp_path / "b-entry-string.json").write_text(
        json.dumps({"resourceType": "Bundle", "entry": "x"}))
    inner: Any = {"v": 1}
    for _ in range(100):
        inner = {"extension": [inner]}
    nested = {"resource": {**p.resource(p.CHARGE_ITEM, 3), "extension": [inner]}}
    (tmp_path / "c-entries.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [
        "x", 3, None, {"resource": [1]}, {"resource": {"no": "type"}}, nested,
        {"resource": p.resource(p.CHARGE_ITEM, 1)}]}))
    (tmp_path / "d-good.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [
        {"resource": p.resource(p.CHARGE_ITEM, 2)}]}))
    summary = ingest_paths(Settings(), engine, [tmp_path], source_name="bundles")
    rows = quarantined(engine, "bundles")
    by_place = Counter(r.position.rsplit("/", 1)[-1].split("#")[0] for r in rows)
    assert by_place == {"a-deep.json": 1, "b-entry-string.json": 1, "c-entries.json": 6}
    assert summary.records == 2  # c's good entry and d
    reasons = {r.position.rsplit("/", 1)[-1]: r.reason for r in rows}
    assert "deeper than 256" in reasons["a-deep.json"]
    assert "Bundle.entry is a string" in reasons["b-entry-string.json"]
    assert "entry is a string" in reasons["c-entries.json#entry0"]
    assert "deeper than" in reasons["c-entries.json#entry5"]
    assert not any(UNEXPECTED in r.reason for r in rows)


# --- fuzz ---------------------------------------------------------------------------------

FIGURES: Counter[str] = Counter()  # per backend: inputs and what became of them
INPUTS = iter(range(1, 10**9))  # each input its own number: its good file's charge id


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_files_are_stored_or_quarantined_never_a_traceback(
        engine: Engine, tmp_path_factory: Any, data: Any) -> None:
    """Each hostile file, then a good one, in one ingest pass: no traceback; the input
    gives records, quarantine rows with their reasons, or is a Bundle with nothing in
    it — never nothing at all; no failure is caught as unforeseen; the good file is
    stored. ``python -m bench fuzz`` counts the same over a thousand inputs."""
    backend = engine.dialect.name
    for _ in range(3):
        n = next(INPUTS)
        suffix = data.draw(st.sampled_from([".hl7", ".json"]))
        raw = data.draw(hl7_file(n) if suffix == ".hl7" else json_file(n))
        FIGURES[f"{backend} inputs"] += 1
        try:
            outcome = ingest_with_good_after(Settings(), engine,
                                             tmp_path_factory.mktemp("fuzz"), suffix, raw, n,
                                             f"fuzz-{uuid.uuid4().hex[:8]}")
        except Exception:
            FIGURES[f"{backend} crashes"] += 1
            raise
        FIGURES[f"{backend} {outcome.kind}"] += 1
        assert outcome.kind != "vanished", raw[:300]
        assert outcome.unforeseen == 0
        assert all(outcome.reasons)
        assert outcome.good_after


def test_zz_fuzz_figures() -> None:
    """Prints the fuzz figures (run with -s) — the counts the issue asks for."""
    print("\nfuzz figures:", dict(sorted(FIGURES.items())))
