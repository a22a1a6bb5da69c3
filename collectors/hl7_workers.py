"""Converting a long HL7 backlog on every core.

Splitting, parsing, mapping HL7 and turning records into rows is pure CPU work; writing
them to the store is the main process's.
When a file has a backlog of several chunks (a first read, a catch-up, ``chargeline
ingest``), its chunks are converted by worker processes and come back, in order, to be
committed one transaction each, exactly as a sequential read would commit them. A small
read (the usual poll of a growing log) is converted in-process: starting workers would
cost more than it saves.

Workers are plain child processes (``python -m collectors.hl7_workers``) fed pickled
chunks over a pipe, not a ``multiprocessing`` pool: the collector process runs scheduler
threads (a forked copy of a threaded process can deadlock), and ``spawn``/``forkserver``
would re-run an embedding script's unguarded ``__main__`` in every worker. Chunk i goes
to worker i mod N and at most one chunk waits per worker (its result is taken before it
gets another), so neither side can block the other on a full pipe. A worker that dies is
replaced by in-process conversion.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from collectors.hl7_parse import split_blocks
from collectors.hl7_records import Hl7Converter, LateAck, Rejected
from collectors.mapping import load_mapping
from store.upsert import PreparedRows, prepare_records

log = logging.getLogger("chargeline.collectors")
MAX_WORKERS = 4
_HEADER = struct.Struct("!Q")


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
    rows = prepare_records([*batch.messages, *batch.usages], source=source)
    return PreparedChunk(rows, batch.late_acks, batch.rejected, newest)


def _write(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker stream closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker stream cut off")
    return pickle.loads(data)  # noqa: S301 - our own child process, over its own pipe


class _Worker:
    def __init__(self, args: tuple[str, str, str, str]) -> None:
        self.outstanding: _Sent | None = None  # at most one: no pipe can fill both ways
        self.proc = subprocess.Popen([sys.executable, "-m", __name__],  # noqa: S603
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        _write(self.proc.stdin, args)  # the PHI secret travels on the pipe, not in argv

    def send(self, chunk: Chunk) -> None:
        assert self.proc.stdin is not None
        _write(self.proc.stdin, chunk)

    def receive(self) -> PreparedChunk:
        assert self.proc.stdout is not None
        return _read(self.proc.stdout)

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Done:
    """A converted chunk."""

    def __init__(self, value: PreparedChunk) -> None:
        self.value = value

    def result(self) -> PreparedChunk:
        return self.value


class _Sent:
    """A chunk being converted by a worker; converted here if the worker is lost."""

    def __init__(self, owner: ChunkConverter, worker: _Worker, chunk: Chunk) -> None:
        self.owner, self.worker, self.chunk = owner, worker, chunk
        self.value: PreparedChunk | None = None

    def result(self) -> PreparedChunk:
        if self.value is None:
            try:
                self.value = self.worker.receive()
            except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
                self.owner.give_up(exc)
                self.value = self.owner.convert_here(self.chunk)
            if self.worker.outstanding is self:
                self.worker.outstanding = None
        return self.value


class ChunkConverter:
    """Converts chunks of blocks in-process, or on worker processes when ``parallel``.
    Results must be taken in submission order (``in_flight`` at most)."""

    def __init__(self, mapping_file: str, channel: str, secret: str, source: str,
                 parallel: bool) -> None:
        self.args = (mapping_file, channel, secret, source)
        count = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        self.workers: list[_Worker] = []
        self.submitted = 0
        self._local: Hl7Converter | None = None
        if parallel and count > 1:
            try:
                self.workers = [_Worker(self.args) for _ in range(count)]
            except OSError as exc:
                self.give_up(exc)

    def convert_here(self, chunk: Chunk) -> PreparedChunk:
        mapping_file, channel, secret, source = self.args
        if self._local is None:
            self._local = Hl7Converter(load_mapping("hl7_log", mapping_file), channel,
                                       secret, source)
        return convert_chunk(self._local, chunk, source)

    def give_up(self, why: BaseException) -> None:
        """Stop using workers (one died or none could start); convert in-process."""
        if self.workers:
            log.warning("HL7 worker processes lost (%s); converting in-process", why)
        for worker in self.workers:
            worker.close()
        self.workers = []

    @property
    def in_flight(self) -> int:
        """How many chunks may be out before the oldest result must be taken."""
        return max(1, len(self.workers))

    def submit(self, chunk: Chunk) -> _Sent | _Done:
        if self.workers:
            worker = self.workers[self.submitted % len(self.workers)]
            self.submitted += 1
            if worker.outstanding is not None:
                worker.outstanding.result()  # take (and keep) its last result first
            if self.workers:  # still there: taking that result may have given up on them
                try:
                    worker.send(chunk)
                    worker.outstanding = _Sent(self, worker, chunk)
                    return worker.outstanding
                except OSError as exc:
                    self.give_up(exc)
        return _Done(self.convert_here(chunk))

    def __enter__(self) -> ChunkConverter:
        return self

    def __exit__(self, *exc: Any) -> None:
        for worker in self.workers:
            worker.close()


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker loop: converter arguments first, then chunks until EOF."""
    mapping_file, channel, secret, source = _read(stdin)
    converter = Hl7Converter(load_mapping("hl7_log", mapping_file), channel, secret, source)
    while True:
        try:
            chunk = _read(stdin)
        except EOFError:
            return
        _write(stdout, convert_chunk(converter, chunk, source))


if __name__ == "__main__":
    # run the imported module's loop, so what it pickles is named collectors.hl7_workers.*
    # (not __main__.*) for the parent to load
    from collectors import hl7_workers

    hl7_workers._serve(sys.stdin.buffer, sys.stdout.buffer)
