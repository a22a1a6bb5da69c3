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

Workers are plain child processes (``python -m collectors.worker_process``) fed pickled jobs
over a pipe, not a ``multiprocessing`` pool: the collector process runs scheduler threads
(a forked copy of a threaded process can deadlock), and ``spawn``/``forkserver`` would
re-run an embedding script's unguarded ``__main__`` in every worker. Job i goes to worker
i mod N, which holds at most ``QUEUE_DEPTH`` jobs (one converting, the next waiting). Each
side reads the other's pipe on a thread of its own as soon as something is written, so
neither can block the other on a full pipe. The PHI secret travels in the setup, on the
pipe, never in argv. A worker that dies is replaced by in-process conversion; a task
that raises in a worker is run again in-process, so its error surfaces exactly as it
would without workers.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import IO, Any

from collectors.gc_window import PASS_GEN0_THRESHOLD

log = logging.getLogger("chargeline.collectors")
MAX_WORKERS = 4
QUEUE_DEPTH = 2  # jobs held by a worker: one being converted, the next waiting
WORKER_MODULE = "collectors.worker_process"  # the child's main: runs ``serve_jobs``
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


def _read_frame(stream: IO[bytes]) -> bytes:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker stream closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker stream cut off")
    return data


def _drain_into(stream: IO[bytes], frames: queue.SimpleQueue[bytes | None]) -> None:
    """Read frames as soon as they are written (None at the end), so the writer never
    waits on a full pipe while its reader is busy: neither side can block the other."""
    try:
        while True:
            frames.put(_read_frame(stream))
    except (EOFError, OSError, ValueError):
        frames.put(None)


class TaskFailed(Exception):
    """A task raised in a worker (it is run again in-process for its real error)."""


class _Worker:
    def __init__(self) -> None:
        self.outstanding: deque[_Sent] = deque()  # sent, result not taken yet (in order)
        self.proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE],  # noqa: S603
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.reader = threading.Thread(target=_drain_into, args=(self.proc.stdout, self.answers),
                                       name="collector-worker-answers", daemon=True)
        self.reader.start()

    def send(self, job: tuple[str, Any, Any]) -> None:
        assert self.proc.stdin is not None
        _write(self.proc.stdin, job)  # the worker reads its pipe on a thread of its own

    def receive(self) -> Any:
        frame = self.answers.get()
        if frame is None:
            self.answers.put(None)  # every later receive sees the end too
            raise EOFError("worker stream closed")
        status, value = pickle.loads(frame)  # noqa: S301 - our own child, over its own pipe
        if status != "ok":
            raise TaskFailed(value)
        return value

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # a dead worker's pipe
                self.proc.stdin.close()  # EOF: the worker ends after the jobs it holds
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
        if self.taken:
            return self.value
        outstanding = self.worker.outstanding
        while outstanding and outstanding[0] is not self:
            outstanding[0].result()  # a worker answers in order: take (and keep) older ones
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
            if outstanding and outstanding[0] is self:
                outstanding.popleft()
        return self.value


class WorkerPool:
    """Worker processes for one pass, started on demand (``start``); jobs submitted
    while none run are converted in-process. Results are taken in submission order;
    at most ``in_flight`` should be outstanding (each worker holds ``QUEUE_DEPTH``: one
    being converted, the next waiting, so a worker never idles while its last result
    is committed)."""

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
        return max(1, QUEUE_DEPTH * len(self.workers))

    def submit(self, task: str, setup: Any, payload: Any) -> Done | _Sent:
        """Convert one payload, on a worker when they run (in order of submission)."""
        job = (task, setup, payload)
        if self.workers:
            worker = self.workers[self.submitted % len(self.workers)]
            self.submitted += 1
            while self.workers and len(worker.outstanding) >= QUEUE_DEPTH:
                worker.outstanding[0].result()  # take (and keep) its oldest result first
            if self.workers:  # still there: taking that result may have given up on them
                try:
                    worker.send(job)
                except OSError as exc:
                    self.give_up(exc)
                else:
                    sent = _Sent(self, worker, job)
                    worker.outstanding.append(sent)
                    return sent
        return Done(run_task(*job))

    def give_up(self, why: BaseException) -> None:
        """Stop using workers (one died or none could start); convert in-process."""
        if self.workers:
            log.warning("collector worker processes lost (%s); converting in-process", why)
        self.lost = True
        # answers already read are still taken; a job whose answer never came is
        # converted here when its result is asked for
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


# --- pools kept warm between passes -------------------------------------------------------
# Starting a worker costs ~0.4 s of CPU (the interpreter, pydantic, the FHIR models): as
# much as converting thousands of records. A pass that started workers leaves them here
# when it ends, for the next pass with a backlog (the next source of ``collect``, the
# next slot of the scheduler); they are stopped after IDLE_SECONDS unused.
IDLE_SECONDS = 60.0
_idle: list[tuple[float, WorkerPool]] = []
_idle_lock = threading.Lock()
_reaper: threading.Timer | None = None


def borrow_pool() -> WorkerPool:
    """A pool for one pass: one left warm by an earlier pass, or a new (unstarted) one."""
    with _idle_lock:
        while _idle:
            _since, pool = _idle.pop()
            if all(w.proc.poll() is None for w in pool.workers):
                return pool
            pool.close()
    return WorkerPool()


def give_back(pool: WorkerPool) -> None:
    """End a pass's use of ``pool``: keep its running workers warm for a while, or stop
    them (one pool is kept; a pool with results not taken is never reused)."""
    global _reaper
    clean = pool.workers and not pool.lost and not any(w.outstanding for w in pool.workers)
    if clean:
        with _idle_lock:
            if not _idle:
                _idle.append((time.monotonic(), pool))
                if _reaper is None:
                    _reaper = threading.Timer(IDLE_SECONDS, _reap)
                    _reaper.daemon = True
                    _reaper.start()
                return
    pool.close()


def _reap() -> None:
    global _reaper
    with _idle_lock:
        now = time.monotonic()
        stale = [pool for since, pool in _idle if now - since >= IDLE_SECONDS]
        _idle[:] = [(since, pool) for since, pool in _idle if now - since < IDLE_SECONDS]
        _reaper = None
        if _idle:
            _reaper = threading.Timer(IDLE_SECONDS, _reap)
            _reaper.daemon = True
            _reaper.start()
    for pool in stale:
        pool.close()


@atexit.register
def close_idle_pools() -> None:
    """Stop the workers kept warm (at exit, or when a caller wants them gone now)."""
    with _idle_lock:
        pools = [pool for _since, pool in _idle]
        _idle.clear()
    for pool in pools:
        pool.close()


def serve_jobs(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker loop: jobs until EOF, each answered with its result (or its error)."""
    gc.set_threshold(PASS_GEN0_THRESHOLD, *gc.get_threshold()[1:])  # see collectors.gc_window
    jobs: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_drain_into, args=(stdin, jobs), daemon=True).start()
    while True:
        frame = jobs.get()
        if frame is None:
            return
        task, setup, payload = pickle.loads(frame)  # noqa: S301 - from our own parent
        try:
            answer: tuple[str, Any] = ("ok", run_task(task, setup, payload))
        except Exception as exc:  # the parent runs it again for the real error
            answer = ("failed", type(exc).__name__)  # the name only: messages may hold PHI
        _write(stdout, answer)

