"""The MLLP listener over loopback with a real MLLP client (python-hl7's ``MLLPClient``),
on SQLite and PostgreSQL: every message stored before its AA, the tee's ACKs applied,
a connection dropped mid-frame loses nothing acknowledged and stores nothing half, a
malformed message gets AE/AR and a quarantine row, a store failure gets AR and writes
nothing, a stored message reaches the metrics through the after-pass hook."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import Engine, func, select

from collectors.base import CollectContext
from collectors.mllp_frames import SB, frame
from collectors.plugins.mllp import MllpListener, start_listeners
from collectors.scheduler import build_scheduler
from core.config import ChargeSla, Settings, SourceConfig
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from store.schema import (
    collector_runs,
    hl7_early_acks,
    interface_messages,
    message_usages,
    quarantined_records,
)
from tests.collectors import payloads as p

CHANNEL = "FAC01_CHG_OUT"
DEADLINE = 20.0  # seconds any wait in these tests may take


def tee_source(listen: str = "127.0.0.1:0", **extra: Any) -> SourceConfig:
    return SourceConfig(name="engine-tee", kind="mllp", listen=listen, channel=CHANNEL,
                        **extra)


@pytest.fixture
def listen(engine: Engine) -> Iterator[Callable[..., MllpListener]]:
    started: list[MllpListener] = []

    def start(source: SourceConfig | None = None, **kwargs: Any) -> MllpListener:
        source = source or tee_source()
        settings = Settings(database_url=str(engine.url), sources=[source])
        listener = MllpListener(settings, engine, source, **kwargs).start()
        started.append(listener)
        assert listener.address is not None, listener.bind_error
        return listener

    yield start
    for listener in started:
        listener.stop()


def client(listener: MllpListener) -> MLLPClient:
    assert listener.address is not None
    mllp = MLLPClient(*listener.address)
    mllp.socket.settimeout(DEADLINE)
    return mllp


def msa(answer: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, MSA-3) of a framed ACK."""
    assert answer.startswith(SB) and answer.endswith(b"\x1c\r"), answer
    message = hl7.parse(answer[1:-2].decode())
    segment = message.segment("MSA")
    text = str(segment[3]) if len(segment) > 3 else ""
    return str(segment[1]), str(segment[2]), message.unescape(text)


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def messages(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.control_id: r for r in conn.execute(select(interface_messages))}


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_n_messages_get_n_aa_and_are_stored_with_the_tees_acks(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    listener = listen()
    n = 12
    with client(listener) as mllp:
        for i in range(1, n + 1):
            assert msa(mllp.send_message(p.dft(i))) == ("AA", f"MSG-FAC01-{i:07d}", "")
        for i in range(1, n + 1, 2):  # the receiver's ACKs, copied by the tee
            code = "AA" if i % 4 == 1 else "AE"
            assert msa(mllp.send_message(p.ack(i, code)))[:2] == ("AA", f"ACK-FAC01-{i:07d}")
    stored = messages(engine)
    assert len(stored) == n and {m.channel for m in stored.values()} == {CHANNEL}
    assert {m.facility_id for m in stored.values()} == {"FAC01"}
    assert count(engine, message_usages) == n
    for i in range(1, n + 1):
        row = stored[f"MSG-FAC01-{i:07d}"]
        expected = ("Q", None) if i % 2 == 0 else ("S", "AA") if i % 4 == 1 else ("E", "AE")
        assert (row.status, row.ack_code) == expected
    assert count(engine, quarantined_records) == 0
    assert listener.acks == {"AA": n + (n + 1) // 2}


def test_a_connection_dropped_mid_frame_loses_nothing_acknowledged_and_stores_nothing_half(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    listener = listen()
    with client(listener) as mllp:
        for i in range(1, 4):
            assert msa(mllp.send_message(p.dft(i)))[0] == "AA"
    assert listener.address is not None
    cut = socket.create_connection(listener.address, timeout=DEADLINE)
    whole = frame(p.dft(4).encode())
    cut.sendall(whole[: len(whole) // 2])  # the engine dies half-way through message 4
    wait_for(lambda: listener.connections == 1)
    cut.close()
    wait_for(lambda: listener.connections == 0)
    assert set(messages(engine)) == {f"MSG-FAC01-{i:07d}" for i in range(1, 4)}
    assert count(engine, quarantined_records) == 0  # a drop is not a bad message

    with client(listener) as mllp:  # it comes back and resends what got no ACK
        for i in range(4, 7):
            assert msa(mllp.send_message(p.dft(i))) == ("AA", f"MSG-FAC01-{i:07d}", "")
        assert msa(mllp.send_message(p.dft(3)))[0] == "AA"  # a resend of a stored one
    assert set(messages(engine)) == {f"MSG-FAC01-{i:07d}" for i in range(1, 7)}
    assert count(engine, message_usages) == 6
    assert count(engine, quarantined_records) == 0


def test_the_readmes_mllp_send_line_sends_a_plain_hl7_file(
        engine: Engine, listen: Callable[..., MllpListener], tmp_path: Path) -> None:
    """python-hl7's own command line, as the README says to test the link: a plain file
    (segments on lines, messages one after the other) needs --loose."""
    listener = listen()
    assert listener.address is not None
    host, port = listener.address
    plain = tmp_path / "msg.hl7"
    plain.write_text("".join(p.dft(i).replace("\r", "\n") for i in range(1, 4)))
    mllp_send = Path(sys.executable).with_name("mllp_send")
    done = subprocess.run([str(mllp_send), "--loose", "--port", str(port), "--file",
                           str(plain), host], capture_output=True, timeout=DEADLINE, check=False)
    assert done.returncode == 0, done.stderr.decode()
    answers = [line for line in done.stdout.decode().replace("\r", "\n").splitlines()
               if line.startswith("MSA|")]
    assert answers == [f"MSA|AA|MSG-FAC01-{i:07d}|" for i in range(1, 4)]
    assert set(messages(engine)) == {f"MSG-FAC01-{i:07d}" for i in range(1, 4)}
    # without --loose the file must already be MLLP-framed: a plain one is refused by
    # the client before anything is sent
    again = subprocess.run([str(mllp_send), "--port", str(port), "--file", str(plain), host],
                           capture_output=True, timeout=DEADLINE, check=False)
    assert again.returncode != 0 and b"buffer not terminated" in again.stderr
    assert listener.acks == {"AA": 3}


def test_pieces_of_frames_and_back_to_back_frames_are_answered_in_order(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    listener = listen()
    assert listener.address is not None
    stream = b"".join(frame(p.dft(i).encode()) for i in range(1, 6))
    with socket.create_connection(listener.address, timeout=DEADLINE) as raw:
        for start in range(0, len(stream), 97):
            raw.sendall(stream[start:start + 97])
        answers = b""
        while answers.count(b"\x1c\r") < 5:
            answers += raw.recv(65536)
    acks = [msa(SB + a + b"\x1c\r") for a in answers.split(b"\x1c\r")[:-1]
            for a in [a.lstrip(SB)]]
    assert [a[:2] for a in acks] == [("AA", f"MSG-FAC01-{i:07d}") for i in range(1, 6)]
    assert len(messages(engine)) == 5


@pytest.mark.parametrize(("payload", "code", "reason"), [
    ("hello, not HL7", "AR", "no MSH segment"),
    (p.dft(7).split("FT1|")[0], "AE", "truncated: a DFT^P03 message without its required FT1"),
    (p.dft(8).replace("20261118101532.123+0000||DFT", "||DFT"), "AE", "MSH-7"),
    (p.ack(9).replace("MSG-FAC01-0000009", ""), "AE", "truncated"),
])
def test_a_malformed_message_gets_ae_or_ar_and_a_quarantine_row(
        engine: Engine, listen: Callable[..., MllpListener], payload: str, code: str,
        reason: str) -> None:
    listener = listen()
    with client(listener) as mllp:
        got, _control, text = msa(mllp.send_message(payload))
        assert (got, reason in text) == (code, True), text
        assert msa(mllp.send_message(p.dft(1)))[0] == "AA"  # the stream goes on
    with engine.connect() as conn:
        rows = conn.execute(select(quarantined_records)).all()
    assert len(rows) == 1 and reason in rows[0].reason
    assert rows[0].source == "engine-tee" and rows[0].position.startswith("mllp:")
    assert rows[0].record_kind == "interface_message"
    # sealed, as every quarantined payload: neither the message nor the MRN in clear (the
    # MRN's full value: three letters turn up by chance in a sealed payload's text)
    assert payload[:40] not in rows[0].raw_payload and "MRN0012345" not in rows[0].raw_payload
    assert set(messages(engine)) == {"MSG-FAC01-0000001"}


def test_an_ack_before_its_message_is_kept_until_it_comes(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    listener = listen()
    with client(listener) as mllp:
        assert msa(mllp.send_message(p.ack(5, "AR", "no such account")))[0] == "AA"
        assert count(engine, hl7_early_acks) == 1
        assert msa(mllp.send_message(p.dft(5)))[0] == "AA"
    row = messages(engine)["MSG-FAC01-0000005"]
    assert (row.status, row.ack_code, row.error) == ("E", "AR", "no such account")
    assert count(engine, hl7_early_acks) == 0


def test_a_store_failure_gets_ar_and_writes_nothing(
        engine: Engine, listen: Callable[..., MllpListener],
        monkeypatch: pytest.MonkeyPatch) -> None:
    listener = listen()
    real = CollectContext.commit_page

    def broken(self: CollectContext, *args: Any, **kwargs: Any) -> int:
        raise OSError("disk full")

    with client(listener) as mllp:
        monkeypatch.setattr(CollectContext, "commit_page", broken)
        code, control, text = msa(mllp.send_message(p.dft(1)))
        assert (code, control) == ("AR", "MSG-FAC01-0000001") and "send it again" in text
        monkeypatch.setattr(CollectContext, "commit_page", real)
        assert msa(mllp.send_message(p.dft(1)))[0] == "AA"  # the sender's resend
    assert set(messages(engine)) == {"MSG-FAC01-0000001"}
    listener.stop()
    with engine.connect() as conn:
        runs = conn.execute(select(collector_runs.c.status, collector_runs.c.error)).all()
    assert [r.status for r in runs] == ["error"] and "store failed" in runs[0].error


def test_a_stored_message_reaches_the_metrics_through_the_after_pass_hook(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    passes = threading.Event()

    def after_pass() -> None:  # what chargeline.pipeline does first
        compute(engine, ChargeSla())
        passes.set()

    listener = listen(on_written=after_pass)
    with client(listener) as mllp:
        for i in range(1, 4):
            assert msa(mllp.send_message(p.dft(i)))[0] == "AA"
    assert passes.wait(DEADLINE)
    reader = StoreMetricReader(engine)

    def received() -> float:
        values = reader.values("messages_received", window=timedelta(days=3650),
                               scope_keys=("facility", "channel"), now=datetime.now(UTC))
        return sum(v.value or 0 for v in values if v.scope["channel"] == CHANNEL)

    wait_for(lambda: received() == 3)  # a pass started before the 3rd commit runs again


def test_runs_say_ok_while_messages_come_and_nodata_while_quiet(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    reported: list[str] = []  # on_run_finished: every run closed, as after a polled pass
    listener = listen(tee_source(schedule={"interval_seconds": 1}),
                      on_run_finished=lambda _settings, _engine, run_id: reported.append(run_id))
    with client(listener) as mllp:
        mllp.send_message(p.dft(1))
        mllp.send_message("junk")
    wait_for(lambda: count(engine, collector_runs, collector_runs.c.status == "nodata") >= 1)
    listener.stop()
    with engine.connect() as conn:
        runs = conn.execute(select(collector_runs).order_by(collector_runs.c.started_at)).all()
    assert runs[0].status == "ok" and (runs[0].records, runs[0].quarantined) == (1, 1)
    assert runs[0].newest_record_at is not None
    assert {r.status for r in runs[1:]} == {"nodata"}
    assert all(r.finished_at is not None for r in runs)
    assert sorted(reported) == sorted(r.run_id for r in runs)


def test_a_port_in_use_is_an_error_run_and_retried(
        engine: Engine, listen: Callable[..., MllpListener]) -> None:
    first = listen()
    assert first.address is not None
    source = tee_source(f"127.0.0.1:{first.address[1]}", schedule={"interval_seconds": 1})
    settings = Settings(database_url=str(engine.url), sources=[source])
    second = MllpListener(settings, engine, source).start()
    try:
        assert second.address is None and "cannot listen" in second.bind_error
        wait_for(lambda: count(engine, collector_runs, collector_runs.c.status == "error") >= 1)
        first.stop()  # the port frees up: the next try binds
        wait_for(lambda: second.address is not None)
        with client(second) as mllp:
            assert msa(mllp.send_message(p.dft(1)))[0] == "AA"
    finally:
        second.stop()


def test_the_collector_process_listens_instead_of_polling(engine: Engine) -> None:
    source = tee_source()
    settings = Settings(database_url=str(engine.url), sources=[source])
    scheduler = build_scheduler(settings, settings.sources, engine)
    assert [job.id for job in scheduler.get_jobs()] == []  # never polled
    listeners = start_listeners(settings, engine, settings.sources)
    try:
        assert [li.source.name for li in listeners] == ["engine-tee"]
        with client(listeners[0]) as mllp:
            assert msa(mllp.send_message(p.dft(1)))[0] == "AA"
    finally:
        for listener in listeners:
            listener.stop()
