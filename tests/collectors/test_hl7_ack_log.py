"""An engine that writes its ACKs to a log of their own, beside the message log.

Read first (a file that sorts before the messages, or a flat ``DFT_OUT.ack.hl7`` whose
"channel" is another name), the ACKs name messages not stored yet. They are kept in
``hl7_early_acks`` and applied when their message arrives, so no message that was
acknowledged stays queued; an ACK whose message never comes stays kept, not dropped.
SQLite and PostgreSQL, by poll and by ``chargeline ingest``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from chargeline.cli import app
from core.model import RunStatus
from store.schema import hl7_early_acks, interface_messages
from tests.collectors import payloads as p
from tests.collectors.test_hl7_log import poll

N = 6


def _write(path: Path, blocks: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(b.encode() + b"\n" for b in blocks))


def _state(engine: Engine) -> tuple[dict[str, tuple[str, str | None]], set[str]]:
    with engine.connect() as conn:
        messages = {r.control_id: (r.status, r.ack_code)
                    for r in conn.execute(select(interface_messages))}
        kept = set(conn.execute(select(hl7_early_acks.c.control_id)).scalars())
    return messages, kept


def _acks(codes: dict[int, str]) -> list[str]:
    return [p.ack(n, code, "Encounter not found" if code != "AA" else "")
            for n, code in codes.items()]


CODES = {n: ("AE" if n == 3 else "AA") for n in range(1, N + 1)}
EXPECTED = {f"MSG-FAC01-{n:07d}": ("E" if code == "AE" else "S", code)
            for n, code in CODES.items()}


@pytest.mark.parametrize("layout", ["folder", "flat"])
def test_acks_read_before_their_messages_are_applied_when_they_arrive(
        engine: Engine, tmp_path: Path, layout: str) -> None:
    if layout == "folder":  # the ACK log sorts before the message log of its channel
        acks, msgs = tmp_path / "DFT_OUT" / "a-acks.hl7", tmp_path / "DFT_OUT" / "b-msgs.hl7"
    else:  # flat: the ACK log's stem is another "channel" name
        acks, msgs = tmp_path / "DFT_OUT.ack.hl7", tmp_path / "DFT_OUT.hl7"
    _write(acks, _acks(CODES))
    _write(msgs, [p.dft(n) for n in range(1, N + 1)])
    run = poll(engine, tmp_path)
    assert run.status is RunStatus.OK, run.error
    messages, kept = _state(engine)
    assert {k: messages[k] for k in EXPECTED} == EXPECTED
    assert kept == set()


def test_acks_of_a_later_read_and_an_ack_whose_message_never_comes(
        engine: Engine, tmp_path: Path) -> None:
    acks, msgs = tmp_path / "DFT_OUT" / "a-acks.hl7", tmp_path / "DFT_OUT" / "b-msgs.hl7"
    _write(acks, [*_acks({1: "AA", 2: "AA"}), p.ack(99)])
    _write(msgs, [])
    assert poll(engine, tmp_path).status is RunStatus.OK
    messages, kept = _state(engine)
    assert messages == {} and kept == {"MSG-FAC01-0000001", "MSG-FAC01-0000002",
                                       "MSG-FAC01-0000099"}
    _write(msgs, [p.dft(1), p.dft(2), p.dft(3)])  # the messages come in a later pass
    assert poll(engine, tmp_path).status is RunStatus.OK
    messages, kept = _state(engine)
    assert messages == {"MSG-FAC01-0000001": ("S", "AA"), "MSG-FAC01-0000002": ("S", "AA"),
                        "MSG-FAC01-0000003": ("Q", None)}
    assert kept == {"MSG-FAC01-0000099"}  # kept, never dropped


def test_ingest_reads_an_ack_log_beside_the_messages(engine: Engine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    _write(tmp_path / "hl7" / "DFT_OUT" / "20261118.ack.hl7", _acks(CODES))
    _write(tmp_path / "hl7" / "DFT_OUT" / "20261118.hl7", [p.dft(n) for n in range(1, N + 1)])
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "hl7")],
                                env={"CHARGELINE_DATABASE_URL": str(engine.url)
                                     .replace("***", engine.url.password or "")})
    assert result.exit_code == 0, result.output
    messages, kept = _state(engine)
    assert {k: messages[k] for k in EXPECTED} == EXPECTED
    assert kept == set()
