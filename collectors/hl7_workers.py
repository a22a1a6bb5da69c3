"""Converting a long HL7 backlog on the pass's worker processes (``collectors.workers``).

A file with a backlog of several chunks (a first read, a catch-up, ``chargeline
ingest``) has its chunks split, parsed, mapped and turned into rows by the workers; they
come back in order to be committed one transaction each, exactly as a sequential read
would commit them. A small read (the usual poll of a growing log) is converted
in-process. The pool belongs to the pass, so its workers start once however many files
the pass reads (starting them per file cost more CPU than a file's conversion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from collectors.data.pages import PreparedRows, prepare_rows
from collectors.hl7_parse import split_blocks
from collectors.hl7_records import Hl7Converter, LateAck, Rejected
from collectors.mapping import load_mapping
from collectors.workers import Done, WorkerPool

TASK = "collectors.hl7_workers:convert_chunk_task"


@dataclass(slots=True)
class Chunk:
    """Bytes of a log ending on a message boundary, and where they start in the file."""

    data: bytes
    base: int
    cr_mode: bool
    label: str  # the file's stream name, for quarantine positions


@dataclass(slots=True)
class PreparedChunk:
    """A converted chunk, its rows ready to write."""

    rows: PreparedRows
    late_acks: list[LateAck]
    rejected: list[Rejected]
    newest: datetime | None


def convert_chunk(converter: Hl7Converter, chunk: Chunk, source: str) -> PreparedChunk:
    """Split, parse, map and turn into rows one chunk (pure CPU; runs in a worker)."""
    blocks, _end = split_blocks(chunk.data, chunk.base, final=True, cr_mode=chunk.cr_mode)
    batch = converter.convert(blocks, chunk.label)
    newest = max((m.received_at for m in batch.messages), default=None)
    rows = prepare_rows([*batch.messages, *batch.usages], source=source)
    return PreparedChunk(rows, batch.late_acks, batch.rejected, newest)


@lru_cache(maxsize=32)
def _converter(mapping_file: str, channel: str, secret: str, source: str) -> Hl7Converter:
    return Hl7Converter(load_mapping("hl7_log", mapping_file), channel, secret, source)


def convert_chunk_task(setup: tuple[str, str, str, str], chunk: Chunk) -> PreparedChunk:
    """The worker task: ``setup`` is (mapping file, channel, PHI secret, source)."""
    return convert_chunk(_converter(*setup), chunk, setup[3])


class ChunkConverter:
    """Converts one file's chunks in-process, or on worker processes when ``parallel``
    (the pass's ``pool``, or a pool of its own). Results must be taken in submission
    order (``in_flight`` at most)."""

    def __init__(self, mapping_file: str, channel: str, secret: str, source: str,
                 parallel: bool, pool: WorkerPool | None = None) -> None:
        self.setup = (mapping_file, channel, secret, source)
        self.own_pool = pool is None
        self.pool = pool if pool is not None else WorkerPool()
        self.parallel = parallel and self.pool.start()

    @property
    def workers(self) -> list[Any]:
        return self.pool.workers

    @property
    def in_flight(self) -> int:
        """How many chunks may be out before the oldest result must be taken."""
        return self.pool.in_flight if self.parallel else 1

    def submit(self, chunk: Chunk) -> Any:
        if not self.parallel:
            return Done(convert_chunk_task(self.setup, chunk))
        return self.pool.submit(TASK, self.setup, chunk)

    def __enter__(self) -> ChunkConverter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.own_pool:
            self.pool.close()
