"""HL7 backlogs converted on worker processes give the same store as in-process
conversion; a worker that dies mid-way is replaced by in-process conversion."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.hl7_parse import complete_end
from collectors.hl7_workers import Chunk, ChunkConverter
from collectors.plugins.hl7_log import PARALLEL_MIN_BYTES
from collectors.runner import run_source
from collectors.workers import close_idle_pools
from core.config import Settings, SourceConfig
from store.schema import interface_messages, message_usages, quarantined_records
from tests.collectors import payloads as p


def log_bytes(count: int, every_bad: int = 50) -> bytes:
    parts = []
    for n in range(count):
        if n % every_bad == 7:
            parts.append(b"PID|broken message without MSH " + str(n).encode() + b"\n")
        else:
            parts.append(p.dft(n).encode() + b"\n" + p.ack(n).encode() + b"\n")
    return b"".join(parts)


def chunks(data: bytes, size: int) -> list[Chunk]:
    out, base = [], 0
    while base < len(data):
        piece = data[base:base + size]
        end, cr_mode = complete_end(piece, base, final=base + size >= len(data))
        out.append(Chunk(data[base:end], base, cr_mode, "CH/CH.hl7"))
        base = end
    return out


def test_workers_convert_exactly_like_the_main_process() -> None:
    pieces = chunks(log_bytes(3000), 100_000)
    assert len(pieces) > 5
    with ChunkConverter("", "CH", "secret", "logs", parallel=True) as workers:
        assert len(workers.workers) > 1
        parallel = [workers.submit(c) for c in pieces]
        got = [f.result() for f in parallel]
    with ChunkConverter("", "CH", "secret", "logs", parallel=False) as local:
        want = [local.submit(c).result() for c in pieces]
    for a, b in zip(got, want, strict=True):
        strip = [[{k: v for k, v in row.items() if k != "ingested_at"} for row in rows]
                 for _kind, rows in a.rows.tables]
        expected = [[{k: v for k, v in row.items() if k != "ingested_at"} for row in rows]
                    for _kind, rows in b.rows.tables]
        assert strip == expected and a.rows.links == b.rows.links
        assert [(r.position, r.reason) for r in a.rejected] == \
            [(r.position, r.reason) for r in b.rejected]
        assert a.late_acks == b.late_acks and a.newest == b.newest


def test_a_dead_worker_is_replaced_by_in_process_conversion() -> None:
    pieces = chunks(log_bytes(600), 20_000)
    with ChunkConverter("", "CH", "secret", "logs", parallel=True) as workers:
        first = workers.submit(pieces[0])
        os.kill(workers.workers[1].proc.pid, signal.SIGKILL)
        second = workers.submit(pieces[1])
        results = [first.result(), second.result()]
        results += [workers.submit(c).result() for c in pieces[2:]]
        assert workers.workers == []  # given up on: the rest ran here
    assert sum(r.rows.records for r in results) == 600 - 12


@pytest.mark.slow
def test_a_long_backlog_goes_through_the_workers_into_the_store(engine: Engine,
                                                                tmp_path: Path) -> None:
    data = log_bytes(1000)
    folder = tmp_path / "CH"
    folder.mkdir()
    copies = PARALLEL_MIN_BYTES // len(data) + 2
    with open(folder / "CH-20261118.hl7", "wb") as handle:
        for _ in range(copies):  # the same messages again and again: upserts dedupe
            handle.write(data)
    source = SourceConfig(name="logs", kind="hl7_log", path=str(tmp_path))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    result = run_source(Settings(sources=[source]), engine, source)
    assert result is not None and result.status.value == "ok"
    assert result.quarantined == copies * 20
    close_idle_pools()  # the pass left its workers warm; stopped, their CPU is counted
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime > children  # workers ran
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(interface_messages)).scalar() == 980
        assert conn.execute(select(func.count()).select_from(message_usages)).scalar() == 980
        # the same bad message at another offset is another quarantine row (one a position)
        assert conn.execute(select(func.count()).select_from(quarantined_records)
                            ).scalar() == copies * 20
