"""Converting a long backlog on every core: log chunks and API pages on worker processes.

Splitting, parsing, validating and mapping a payload and turning its records into rows
is pure CPU work; writing them to the store is the main process's. When a pass meets a
backlog (a first read, a catch-up, ``chargeline ingest``), its payloads are converted by
worker processes and come back, in order, to be committed one transaction each, exactly
as a sequential pass would commit them. A small read (the usual poll) is converted
in-process: starting workers would cost more than it saves.

A job is a task (``"module:function"``, a pure function of ``(setup, payload)``), the
task's setup (mapping file, source, PHI secret ...) and one payload. Tasks keep what is
costly to build (a compiled mapping, a converter) in a cache keyed by the setup, so one
pool serves every stream and file of a pass and starts once per pass, not per file.

Workers are plain child processes (``python -m collectors.workers``) fed pickled jobs
over a pipe, not a ``multiprocessing`` pool: the collector process runs scheduler threads
(a forked copy of a threaded process can deadlock), and ``spawn``/``forkserver`` would
re-run an embedding script's unguarded ``__main__`` in every worker. Job i goes to worker
i mod N and at most one job waits per worker (its result is taken before it gets
another), so neither side can block the other on a full pipe. The PHI secret travels in
the setup, on the pipe, never in argv. A worker that dies is replaced by in-process
conversion; a task that raises in a worker is run again in-process, so its error
surfaces exactly as it would without workers.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from typing import IO, Any

from collectors.gc_window import PASS_GEN0_THRESHOLD

log = logging.getLogger("chargeline.collectors")
MAX_WORKERS = 4
_HEADER = struct.Struct("!Q")


@cache
def task_function(task: str) -> Callable[[Any, Any], Any]:
    """The function a task name (``"module:function"``) stands for."""
    module, _, name = task.partition(":")
    return getattr(importlib.import_module(module), name)


def run_task(task: str, setup: Any, payload: Any) -> Any:
    """Run one job here, in this process."""
    return task_function(task)(setup, payload)


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


class TaskFailed(Exception):
    """A task raised in a worker (it is run again in-process for its real error)."""


class _Worker:
    def __init__(self) -> None:
        self.outstanding: _Sent | None = None  # at most one: no pipe can fill both ways
        self.proc = subprocess.Popen([sys.executable, "-m", __name__],  # noqa: S603
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def send(self, job: tuple[str, Any, Any]) -> None:
        assert self.proc.stdin is not None
        _write(self.proc.stdin, job)

    def receive(self) -> Any:
        assert self.proc.stdout is not None
        status, value = _read(self.proc.stdout)
        if status != "ok":
            raise TaskFailed(value)
        return value

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Done:
    """A job converted in this process."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class _Sent:
    """A job being converted by a worker; converted here if the worker is lost."""

    def __init__(self, pool: WorkerPool, worker: _Worker, job: tuple[str, Any, Any]) -> None:
        self.pool, self.worker, self.job = pool, worker, job
        self.taken = False
        self.value: Any = None

    def result(self) -> Any:
        if not self.taken:
            try:
                self.value = self.worker.receive()
            except TaskFailed as exc:
                log.warning("a collector worker task failed (%s); running it in-process", exc)
                self.value = run_task(*self.job)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
                self.pool.give_up(exc)
                self.value = run_task(*self.job)
            finally:
                self.taken = True
                if self.worker.outstanding is self:
                    self.worker.outstanding = None
        return self.value


class WorkerPool:
    """Worker processes for one pass, started on demand (``start``); jobs submitted
    while none run are converted in-process. Results must be taken in submission order,
    at most ``in_flight`` outstanding."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        self.workers: list[_Worker] = []
        self.submitted = 0
        self.lost = False  # workers failed once: convert in-process from then on

    def start(self) -> bool:
        """Start the workers (once); False when this pool converts in-process."""
        if self.workers or self.lost or self.size < 2:
            return bool(self.workers)
        try:
            for _ in range(self.size):
                self.workers.append(_Worker())
        except OSError as exc:
            self.give_up(exc)
        return bool(self.workers)

    @property
    def in_flight(self) -> int:
        """How many jobs may be out before the oldest result must be taken."""
        return max(1, len(self.workers))

    def submit(self, task: str, setup: Any, payload: Any) -> Done | _Sent:
        """Convert one payload, on a worker when they run (in order of submission)."""
        job = (task, setup, payload)
        if self.workers:
            worker = self.workers[self.submitted % len(self.workers)]
            self.submitted += 1
            if worker.outstanding is not None:
                worker.outstanding.result()  # take (and keep) its last result first
            if self.workers:  # still there: taking that result may have given up on them
                try:
                    worker.send(job)
                    worker.outstanding = _Sent(self, worker, job)
                    return worker.outstanding
                except OSError as exc:
                    self.give_up(exc)
        return Done(run_task(*job))

    def give_up(self, why: BaseException) -> None:
        """Stop using workers (one died or none could start); convert in-process."""
        if self.workers:
            log.warning("collector worker processes lost (%s); converting in-process", why)
        self.lost = True
        # a job still out on a closed worker fails to read and is converted here
        self.close()

    def close(self) -> None:
        """Stop the workers (results not taken are dropped)."""
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker loop: jobs until EOF, each answered with its result (or its error)."""
    gc.set_threshold(PASS_GEN0_THRESHOLD, *gc.get_threshold()[1:])  # see collectors.gc_window
    while True:
        try:
            task, setup, payload = _read(stdin)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", run_task(task, setup, payload))
        except Exception as exc:  # the parent runs it again for the real error
            answer = ("failed", type(exc).__name__)  # the name only: messages may hold PHI
        _write(stdout, answer)


if __name__ == "__main__":
    # run the imported module's loop, so what it pickles is named collectors.* (not
    # __main__.*) for the parent to load
    from collectors import workers

    workers._serve(sys.stdin.buffer, sys.stdout.buffer)
