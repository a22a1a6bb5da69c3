"""Malformed HL7 as it really comes, through the real collector paths (the hl7_log
plugin's poll and ``chargeline ingest``), on SQLite and PostgreSQL: every bad message is
one quarantine row with its reason and position, never an ``interface_messages`` row;
every good message around it is stored with its ACK. And an ACK log whose messages are
separated by CR+LF is read to its last message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collectors.ingest import ingest_paths
from collectors.runner import run_source
from core.config import Settings, SourceConfig
from core.model import RunStatus
from store.schema import interface_messages, quarantined_records
from tests.collectors import payloads as p
from tests.collectors.hl7_broken import broken_log

CHANNEL = "FAC01_CHG_OUT"


def poll(engine: Engine, root: Path) -> Any:
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(root))
    return run_source(Settings(database_url=str(engine.url), sources=[source]), engine, source)


def stored(engine: Engine) -> tuple[dict[str, str], list[Any]]:
    with engine.connect() as conn:
        messages = {r.control_id: r.status for r in conn.execute(
            select(interface_messages.c.control_id, interface_messages.c.status))}
        quarantined = conn.execute(select(quarantined_records)).all()
    return messages, quarantined


@pytest.mark.parametrize("segment_end", ["\r", "\n"], ids=["cr-segments", "lf-segments"])
@pytest.mark.parametrize("path", ["poll", "ingest"])
def test_each_broken_shape_is_quarantined_and_the_messages_around_it_kept(
        engine: Engine, tmp_path: Path, segment_end: str, path: str) -> None:
    log = broken_log(segment_end)
    folder = tmp_path / "logs" / CHANNEL
    folder.mkdir(parents=True)
    day1 = folder / f"{CHANNEL}-20261118.hl7"
    day1.write_bytes(log.data)
    if path == "poll":
        # a newer daily file: day 1 is complete, so its cut-off last message is judged
        (folder / f"{CHANNEL}-20261119.hl7").write_bytes(
            (p.dft(50) + "\n" + p.ack(50) + "\n").encode())
        result = poll(engine, tmp_path / "logs")
        assert result.status is RunStatus.OK, result.error
        quarantined_count = result.quarantined
        good = [*log.good, "MSG-FAC01-0000050"]
    else:
        summary = ingest_paths(Settings(database_url=str(engine.url)), engine, [day1])
        quarantined_count = summary.quarantined
        good = log.good

    messages, quarantined = stored(engine)
    assert messages == dict.fromkeys(good, "S")  # every good one, with its ACK
    assert not [c for c in messages if c.startswith("BAD-")]
    assert quarantined_count == len(log.bad) == len(quarantined)
    by_offset = {int(q.position.rsplit("@", 1)[1]): q for q in quarantined}
    assert set(by_offset) == set(log.bad)
    for offset, word in log.bad.items():
        row = by_offset[offset]
        assert row.position.startswith(f"{CHANNEL}") or day1.name in row.position
        assert word in row.reason, (offset, row.reason)
        assert row.record_kind == "interface_message"


def test_a_message_cut_short_in_a_growing_log_waits_then_is_quarantined(
        engine: Engine, tmp_path: Path) -> None:
    """The live file's cut-off tail is not judged while the writer may still be writing;
    once the next message follows it on the same line, it is quarantined, not stored."""
    folder = tmp_path / CHANNEL
    folder.mkdir()
    live = folder / f"{CHANNEL}.hl7"
    cut = p.dft(2).replace("MSG-FAC01-0000002", "BAD-FAC01-0000002")
    live.write_bytes((p.dft(1) + "\n").encode() + cut[: cut.index("FT1|") + 9].encode())
    assert poll(engine, tmp_path).written == 1
    messages, quarantined = stored(engine)
    assert set(messages) == {"MSG-FAC01-0000001"} and quarantined == []

    with open(live, "ab") as handle:  # the engine restarted and logs the next message
        handle.write((p.dft(3) + "\n" + p.ack(3) + "\n").encode())
    result = poll(engine, tmp_path)
    assert result.quarantined == 1
    messages, (row,) = stored(engine)
    assert messages == {"MSG-FAC01-0000001": "Q", "MSG-FAC01-0000003": "S"}
    assert "truncated" in row.reason and "FT1" in row.reason


def test_an_ack_log_with_crlf_separators_is_read_to_its_last_ack(
        engine: Engine, tmp_path: Path) -> None:
    """Two-segment ACKs (MSH, MSA) each ended by CR+LF: the last one is complete at the
    end of the live file, not left waiting for a blank line that never comes."""
    folder = tmp_path / CHANNEL
    folder.mkdir()
    (folder / f"{CHANNEL}-20261118.hl7").write_bytes(
        "".join(p.dft(n) + "\n" for n in (1, 2, 3)).encode())
    acks = "".join(p.ack(n).rstrip("\r") + "\r\n" for n in (1, 2, 3))
    (folder / f"{CHANNEL}-20261119.hl7").write_bytes(acks.encode())  # the live file
    assert poll(engine, tmp_path).status is RunStatus.OK
    messages, quarantined = stored(engine)
    assert messages == {f"MSG-FAC01-000000{n}": "S" for n in (1, 2, 3)}
    assert quarantined == []
