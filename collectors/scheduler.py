"""The collector process: one APScheduler 3 ``BlockingScheduler`` polling every source on
its own schedule, plus the pipeline's hooks.

Jobs have explicit ids (``collect:<source>``, and ``collect:<source>:startup`` for a
first pass at start-up) with ``replace_existing``, ``coalesce``
(after a stall, one catch-up run, not a burst), ``misfire_grace_time`` 300 s and
``max_instances`` 1 (a slow pass is never overlapped by the next). Interval schedules
start on a multiple of their interval since the epoch, so every collector process fires
the same slots; the slot claim and the lease (``collectors.data.leases``) then let one
process poll each slot.

Hooks, passed in by the caller (the entry room's wiring, ``collectors.hooks``; this
package never imports metrics or alerting):

- ``after_pass()``: called after a pass that wrote new or changed rows. Passes finishing
  while it runs coalesce into one more call; across processes it runs under the
  ``job:after-pass`` lease, one at a time. Its errors are logged, never raised.
- ``extra_jobs``: ``(job_id, seconds, callable)`` run every ``seconds`` (rule evaluation,
  outbox dispatch), each slot once across processes (the ``job:<id>`` lease), errors
  logged.
- ``on_run_finished(settings, engine, run_id)``: after every run, polled or listened
  (OpenLineage events); its errors are logged, never raised.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from collectors.base import LISTENING_KINDS
from collectors.data import leases
from collectors.data.leases import SingleCollectorLock, default_holder
from collectors.hooks import ExtraJob, Hook, RunFinished
from collectors.plugins.mllp import MllpListener, start_listeners
from collectors.runner import RunResult, run_source
from core.config import Schedule, Settings, SourceConfig

log = logging.getLogger("chargeline.collectors")
MISFIRE_GRACE_SECONDS = 300
HOOK_LEASE = "job:after-pass"
HOOK_LEASE_SECONDS = 900  # a metrics pass may run long; a dead holder frees it then


def slot_of(seconds: float, now: datetime) -> datetime:
    """The schedule slot ``now`` falls in: the same instant for every collector process."""
    epoch = int(now.timestamp())
    step = max(1, int(seconds))
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


def schedule_step(schedule: Schedule) -> int:
    """The slot width of a schedule: its interval (cron fires at most once a minute)."""
    return int(schedule.interval_seconds or 60)


def trigger_for(schedule: Schedule) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of one source's schedule (UTC)."""
    jitter = schedule.jitter_seconds or None
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    return _aligned_interval(schedule_step(schedule), jitter)


def _aligned_interval(step: int, jitter: int | None = None) -> IntervalTrigger:
    # start on the current slot boundary: fire times are then boundary + k * step in every
    # process (APScheduler adds the interval to the previous fire time, so the first fire
    # time decides the phase; a job's own "run now" would shift it)
    now = int(datetime.now(UTC).timestamp())
    start = datetime.fromtimestamp(now - now % step, UTC)
    return IntervalTrigger(seconds=step, start_date=start, timezone=UTC, jitter=jitter)


@dataclass
class CollectorRuntime:
    """What the scheduled jobs of one collector process share."""

    settings: Settings
    engine: Engine
    holder: str
    after_pass: Hook | None = None
    on_run_finished: RunFinished | None = None
    _pending: bool = False
    _state: threading.Lock = field(default_factory=threading.Lock)
    _running: threading.Lock = field(default_factory=threading.Lock)

    def request_after_pass(self) -> None:
        """Run ``after_pass`` now, or once more after the run in progress (coalesced)."""
        if self.after_pass is None:
            return
        with self._state:
            self._pending = True
        while True:
            if not self._running.acquire(blocking=False):
                return  # the running call will see _pending and go round again
            try:
                while self._take_pending():
                    self._after_pass_once()
            finally:
                self._running.release()
            with self._state:
                if not self._pending:
                    return

    def _take_pending(self) -> bool:
        with self._state:
            pending, self._pending = self._pending, False
            return pending

    def _after_pass_once(self) -> None:
        assert self.after_pass is not None
        deadline = time.monotonic() + HOOK_LEASE_SECONDS
        # one process at a time: wait for another collector's run to finish, then run
        # (ours covers rows it may not have seen)
        while not leases.acquire(self.engine, HOOK_LEASE, self.holder,
                                 datetime.now(UTC), HOOK_LEASE_SECONDS):
            if time.monotonic() > deadline:
                log.warning("after-pass hook skipped: %s stayed held", HOOK_LEASE)
                return
            time.sleep(0.5)
        try:
            self.after_pass()
        except Exception:  # the hook's failure must not stop collection
            log.exception("after-pass hook failed")
        finally:
            leases.release(self.engine, HOOK_LEASE, self.holder)


def poll_job(runtime: CollectorRuntime, source_name: str) -> RunResult | None:
    """The scheduled job: one pass of one source (errors are stored, never raised)."""
    source = runtime.settings.source(source_name)
    result = run_source(runtime.settings, runtime.engine, source, holder=runtime.holder,
                        slot=slot_of(schedule_step(source.schedule), datetime.now(UTC)),
                        on_run_finished=runtime.on_run_finished)
    if result is not None:
        log.info("%s: %s, %d new or changed, %d quarantined", source.name,
                 result.status.value, result.written, result.quarantined)
        if result.written:
            runtime.request_after_pass()
    return result


def extra_job(runtime: CollectorRuntime, job_id: str, seconds: float, func: Hook) -> bool:
    """Run one extra periodic job for its slot, unless another process has it."""
    name = f"job:{job_id}"[:64]
    slot = slot_of(seconds, datetime.now(UTC))
    if not leases.acquire(runtime.engine, name, runtime.holder, slot,
                          max(int(seconds), runtime.settings.lease_seconds)):
        return False
    try:
        func()
    except Exception:  # a failing job is logged; the scheduler and collection go on
        log.exception("job %s failed", job_id)
    finally:
        leases.release(runtime.engine, name, runtime.holder)
    return True


def build_scheduler(settings: Settings, sources: Sequence[SourceConfig],
                    engine: Engine | None = None, *, holder: str = "",
                    after_pass: Hook | None = None,
                    extra_jobs: Sequence[ExtraJob] = (),
                    runtime: CollectorRuntime | None = None,
                    on_run_finished: RunFinished | None = None) -> BlockingScheduler:
    """A scheduler with one job per enabled source and one per extra job (sources that
    listen, ``LISTENING_KINDS``, are served by ``start_listeners`` instead)."""
    runtime = runtime or CollectorRuntime(settings, engine, holder or settings.collector_id  # type: ignore[arg-type]
                                          or default_holder(), after_pass, on_run_finished)
    scheduler = BlockingScheduler(timezone=UTC)
    options: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1,
                               "misfire_grace_time": MISFIRE_GRACE_SECONDS}
    for source in sources:
        if not source.enabled or source.kind in LISTENING_KINDS:
            continue
        scheduler.add_job(poll_job, trigger_for(source.schedule), args=[runtime, source.name],
                          id=f"collect:{source.name}", name=f"collect {source.name}",
                          **options)
        # and one pass at start-up, in the current slot (``run_source`` never lets two
        # passes of one source overlap in a process, the lease across processes)
        scheduler.add_job(poll_job, DateTrigger(datetime.now(UTC), timezone=UTC),
                          args=[runtime, source.name], id=f"collect:{source.name}:startup",
                          name=f"collect {source.name} at start-up", **options)
    for job_id, seconds, func in extra_jobs:
        scheduler.add_job(extra_job, _aligned_interval(max(1, int(seconds))),
                          args=[runtime, job_id, seconds, func], id=job_id, name=job_id,
                          **options)
    return scheduler


def run_scheduler(settings: Settings, engine: Engine, *, after_pass: Hook | None = None,
                  extra_jobs: Sequence[ExtraJob] = (),
                  on_listeners: Callable[[list[MllpListener]], None] | None = None,
                  on_run_finished: RunFinished | None = None) -> None:
    """Run until SIGTERM/SIGINT. On SQLite only one collector process may run. Sources
    that listen (``mllp``) are served from start to stop, and a message they store runs
    ``after_pass`` as a pass would; ``on_listeners`` gets them once started (the
    ``/metrics`` endpoint reports on them). ``on_run_finished`` follows every run."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our call log says more, once
    lock = SingleCollectorLock(settings.database_url)
    lock.acquire(engine)
    holder = settings.collector_id or default_holder()
    runtime = CollectorRuntime(settings, engine, holder, after_pass, on_run_finished)
    scheduler = build_scheduler(settings, settings.sources, engine, holder=holder,
                                after_pass=after_pass, extra_jobs=extra_jobs, runtime=runtime)
    listeners = start_listeners(settings, engine, settings.sources, holder=holder,
                                on_written=runtime.request_after_pass,
                                on_run_finished=on_run_finished)
    if on_listeners is not None:
        on_listeners(listeners)

    def stop(_signum: int, _frame: Any) -> None:
        # No new pass starts; the passes in flight end before the process does. Left to
        # run on while the interpreter shut down, a pass could no longer start the thread
        # that prefetches its next page, and its run stayed "running". A stop that cannot
        # wait (SIGKILL) loses nothing either: each page is its own transaction, and the
        # next pass marks the run interrupted and resumes after the last page. A second
        # signal (Ctrl+C reaches the whole process group) finds it already stopping.
        if scheduler.running:
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        log.info("collector %s polling %d sources", holder,
                 sum(s.enabled for s in settings.sources))
        scheduler.start()
    finally:
        for listener in listeners:
            listener.stop()
        lock.release()
