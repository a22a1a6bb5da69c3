"""Tailing HL7 v2 logs into the store (SQLite and PostgreSQL): files that grow, rotate to
a new daily file, get truncated or replaced; ACKs that arrive in a later read; usage
events from DFT FT1 segments when a source's mapping turns them on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from collectors.runner import run_source
from core.config import Settings, SourceConfig
from core.model import RunStatus
from core.sealing import sealer_for
from store.schema import (
    collector_runs,
    interface_messages,
    message_usages,
    quarantined_records,
    source_watermarks,
    usage_events,
)
from tests.collectors import payloads as p

CHANNEL = "FAC01_CHG_OUT"


def poll(engine: Engine, root: Path, mapping: str = "") -> Any:
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(root), mapping=mapping)
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source)


def messages(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.control_id: r for r in conn.execute(select(interface_messages))}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def append(path: Path, text: str) -> None:
    with open(path, "ab") as handle:
        handle.write(text.encode() + b"\n")


def test_growing_file_is_read_from_where_it_stopped(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / CHANNEL / f"{CHANNEL}-20261118.hl7"
    log.parent.mkdir()
    append(log, p.dft(1))
    first = poll(engine, tmp_path)
    assert first.status is RunStatus.OK and first.written == 1
    assert messages(engine)["MSG-FAC01-0000001"].status == "Q"  # no ACK yet: queued

    append(log, p.ack(1))  # the ACK arrives in a later read
    append(log, p.dft(2))
    with open(log, "ab") as handle:  # the writer is half-way through message 3
        handle.write(p.dft(3).encode()[:40])
    second = poll(engine, tmp_path)
    assert second.status is RunStatus.OK
    stored = messages(engine)
    assert stored["MSG-FAC01-0000001"].status == "S"
    assert stored["MSG-FAC01-0000001"].ack_code == "AA"
    assert set(stored) == {"MSG-FAC01-0000001", "MSG-FAC01-0000002"}
    assert count(engine, quarantined_records) == 0  # the partial message is not "bad"

    with open(log, "ab") as handle:
        handle.write(p.dft(3).encode()[40:] + b"\n")
    assert poll(engine, tmp_path).written == 1
    assert set(messages(engine)) == {f"MSG-FAC01-000000{i}" for i in (1, 2, 3)}
    assert count(engine, message_usages) == 3

    again = poll(engine, tmp_path)
    assert again.status is RunStatus.NODATA and again.written == 0
    with engine.connect() as conn:
        cursor = conn.execute(select(source_watermarks.c.cursor)).scalar_one()
    assert int(cursor.split(":")[0]) == log.stat().st_size


def test_rotation_to_a_new_daily_file_finishes_the_old_one(engine: Engine, tmp_path: Path
                                                           ) -> None:
    folder = tmp_path / CHANNEL
    folder.mkdir()
    day1 = folder / f"{CHANNEL}-20261118.hl7"
    day1.write_text("\r\n".join([p.dft(1), p.ack(1)]).replace("\r\n", "\n").replace(
        "\r", "\n") + "\n\n")
    # LF segments without a trailing blank line: the last message is complete only once
    # the file has rotated
    with open(day1, "ab") as handle:
        handle.write(p.dft(2).replace("\r", "\n").encode())
    poll(engine, tmp_path)
    assert set(messages(engine)) == {"MSG-FAC01-0000001"}

    day2 = folder / f"{CHANNEL}-20261119.hl7"
    append(day2, p.dft(3))
    assert poll(engine, tmp_path).written == 2
    assert set(messages(engine)) == {f"MSG-FAC01-000000{i}" for i in (1, 2, 3)}
    assert poll(engine, tmp_path).status is RunStatus.NODATA


def test_truncated_and_replaced_files_are_read_again_without_duplicates(
        engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / CHANNEL / f"{CHANNEL}.hl7"
    log.parent.mkdir()
    for i in range(1, 5):
        append(log, p.dft(i))
    poll(engine, tmp_path)
    assert count(engine, interface_messages) == 4

    log.write_bytes(b"")  # logrotate copytruncate: the file starts again
    append(log, p.dft(5))
    assert poll(engine, tmp_path).written == 1
    # replaced by a longer file with other content: the fingerprint differs
    log.write_bytes(b"")
    for i in range(6, 12):
        append(log, p.dft(i))
    assert poll(engine, tmp_path).written == 6
    # a rename rotation (x.hl7 -> x.hl7.1, new x.hl7): the old file is read as complete,
    # what was already stored is not written twice
    log.rename(log.with_name(f"{CHANNEL}.hl7.1"))
    append(log, p.dft(12))
    result = poll(engine, tmp_path)
    assert result.written == 1
    assert count(engine, interface_messages) == 12


def test_quarantine_and_phi(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / f"{CHANNEL}-20261118.hl7"  # a file directly in the folder
    broken = "MSH|^~\\&|EHR|FAC01\rPID|1||MRN0099999^^^FAC01^MR||ROE^RICHARD"
    text = "\n".join([p.dft(1), broken,
                      p.ack(1), "\x0b" + p.dft(2) + "\x1c\r", p.ack(2, "AR", "rejected")])
    log.write_bytes(b"\xef\xbb\xbf" + text.encode() + b"\n")
    result = poll(engine, tmp_path)
    assert result.written == 2 and result.quarantined == 1
    stored = messages(engine)
    assert stored["MSG-FAC01-0000002"].status == "E"
    assert stored["MSG-FAC01-0000002"].error == "rejected"
    assert stored["MSG-FAC01-0000001"].patient_token.startswith("pt_")
    assert stored["MSG-FAC01-0000001"].encounter_id == "ENC-FAC01-000045"
    with engine.connect() as conn:
        q = conn.execute(select(quarantined_records)).one()
        run = conn.execute(select(collector_runs)).one()
        rows = [tuple(r) for r in conn.execute(select(interface_messages))]
    assert q.position == f"{log.name}@{text.index(broken) + 3}"  # after the BOM
    assert "MRN0099999" not in q.raw_payload and q.reason  # encrypted at rest
    assert b"MRN0099999" in sealer_for(Settings()).open(q.raw_payload)
    assert run.status == "ok" and run.quarantined == 1
    assert "MRN0012345" not in str(rows) and "DOE" not in str(rows)


def test_usage_events_from_ft1_when_the_mapping_turns_them_on(engine: Engine, tmp_path: Path
                                                               ) -> None:
    log = tmp_path / CHANNEL / f"{CHANNEL}-20261118.hl7"
    log.parent.mkdir()
    credit = "FT1|2|U-CREDIT||20261118101500||CR|2780001713|||-1|-25.00||FAC01-OR1\r"
    append(log, p.dft(1) + credit)
    mapping = tmp_path / "engine-mapping.yaml"
    mapping.write_text("usage: {enabled: true}\n")
    assert poll(engine, tmp_path, str(mapping)).status is RunStatus.OK
    with engine.connect() as conn:
        (usage,) = conn.execute(select(usage_events)).all()
    assert usage.usage_id == "U-FAC01-0000001" and usage.item_ref == "ITM-100234"
    assert usage.encounter_id == "ENC-FAC01-000045" and usage.location_id == "FAC01-OR1"
    assert usage.lot == "LOT2311A" and usage.serial == "SN000123" and usage.uom == "EA"
    assert float(usage.quantity) == 2 and usage.patient_token.startswith("pt_")
    assert usage.used_at.isoformat().startswith("2026-11-18T10:15:00")


def test_missing_folder_is_an_error_not_nodata(engine: Engine, tmp_path: Path) -> None:
    result = poll(engine, tmp_path / "nowhere")
    assert result.status is RunStatus.ERROR
    assert "does not exist" in result.error
