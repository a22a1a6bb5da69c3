"""The pass's worker pool: results come back in submission order from real worker
processes; a task that fails in a worker is run again in-process, so its real error
surfaces as it would without workers; a pool that never started converts in-process."""

from __future__ import annotations

import os

import pytest

from collectors.workers import WorkerPool
from core.errors import RecordError

TASK = "tests.collectors.test_workers:square_where"


def square_where(setup: int, payload: int) -> tuple[int, int]:
    """A task: the payload squared (plus the setup), and the process that did it."""
    if payload < 0:
        raise RecordError(f"negative payload {payload}")
    return setup + payload * payload, os.getpid()


def test_results_come_back_in_order_from_the_workers() -> None:
    with WorkerPool(2) as pool:
        assert pool.start()
        taken, pending = [], []
        for n in range(40):
            pending.append(pool.submit(TASK, 1, n))
            while len(pending) >= pool.in_flight:
                taken.append(pending.pop(0).result())
        taken += [p.result() for p in pending]
    assert [value for value, _pid in taken] == [1 + n * n for n in range(40)]
    pids = {pid for _value, pid in taken}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_failing_task_raises_its_own_error_here() -> None:
    with WorkerPool(2) as pool:
        assert pool.start()
        first = pool.submit(TASK, 0, 3)
        failing = pool.submit(TASK, 0, -2)
        assert first.result()[0] == 9
        with pytest.raises(RecordError, match="negative payload -2"):
            failing.result()
        assert len(pool.workers) == 2  # the workers stay: it was the task, not them
        assert pool.submit(TASK, 0, 4).result()[0] == 16


def test_a_pool_not_started_converts_in_process() -> None:
    with WorkerPool() as pool:
        assert pool.submit(TASK, 5, 2).result() == (9, os.getpid())
        assert pool.workers == [] and pool.in_flight == 1


def test_a_pool_of_one_does_not_start_workers() -> None:
    with WorkerPool(1) as pool:
        assert not pool.start()
        assert pool.submit(TASK, 0, 3).result() == (9, os.getpid())
