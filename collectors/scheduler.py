"""The collector process: one APScheduler 3 ``BlockingScheduler`` polling every source on
its own schedule.

Jobs have explicit ids (``collect:<source>``) with ``replace_existing``, ``coalesce``
(after a stall, one catch-up run, not a burst), ``misfire_grace_time`` 300 s and
``max_instances`` 1 (a slow pass is never overlapped by the next). Interval schedules
start on a multiple of their interval since the epoch, so every collector process fires
the same slots; the lease (``collectors.leases``) then lets one process poll each slot.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from chargeline.config import Schedule, Settings, SourceConfig
from collectors.leases import SingleCollectorLock, default_holder
from collectors.runner import run_source

log = logging.getLogger("chargeline.collectors")
MISFIRE_GRACE_SECONDS = 300
_STATE: dict[str, Any] = {}


def slot_of(schedule: Schedule, now: datetime) -> datetime:
    """The schedule slot ``now`` falls in: the same instant for every collector process."""
    epoch = int(now.timestamp())
    step = schedule.interval_seconds or 60  # cron schedules fire at most once a minute
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


def trigger_for(schedule: Schedule) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of one source's schedule (UTC)."""
    jitter = schedule.jitter_seconds or None
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    step = int(schedule.interval_seconds or 60)
    now = int(datetime.now(UTC).timestamp())
    start = datetime.fromtimestamp(now - now % step + step, UTC)
    return IntervalTrigger(seconds=step, start_date=start, timezone=UTC, jitter=jitter)


def poll_job(source_name: str) -> None:
    """The scheduled job: one pass of one source (errors are stored, never raised)."""
    settings: Settings = _STATE["settings"]
    source = settings.source(source_name)
    result = run_source(settings, _STATE["engine"], source, holder=_STATE["holder"],
                        slot=slot_of(source.schedule, datetime.now(UTC)))
    if result is not None:
        log.info("%s: %s, %d new or changed, %d quarantined", source.name,
                 result.status.value, result.written, result.quarantined)


def build_scheduler(settings: Settings, sources: list[SourceConfig]) -> BlockingScheduler:
    """A scheduler with one job per enabled source."""
    scheduler = BlockingScheduler(timezone=UTC)
    for source in sources:
        if not source.enabled:
            continue
        scheduler.add_job(
            poll_job, trigger_for(source.schedule), args=[source.name],
            id=f"collect:{source.name}", name=f"collect {source.name}",
            replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS, next_run_time=datetime.now(UTC))
    return scheduler


def run_scheduler(settings: Settings, engine: Engine) -> None:
    """Run until SIGTERM/SIGINT. On SQLite only one collector process may run."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    lock = SingleCollectorLock(settings.database_url)
    lock.acquire()
    _STATE.update(settings=settings, engine=engine,
                  holder=settings.collector_id or default_holder())
    scheduler = build_scheduler(settings, settings.sources)

    def stop(_signum: int, _frame: Any) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    try:
        log.info("collector %s polling %d sources", _STATE["holder"], len(settings.sources))
        scheduler.start()
    finally:
        lock.release()
