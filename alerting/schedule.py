"""Alerting on its own clock: an APScheduler job that runs ``alerting.service.run_pass``
every ``evaluation_interval`` of the notification policy (default one minute), besides the
pass after every collection. Group-wait, group-interval and repeat timers fire from it
even when no source is polled, and the outbox retries go out.

The collector process adds it with ``add_alerting_job(scheduler, engine, settings)``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from alerting.service import policy_for, run_pass
from chargeline.config import Settings
from chargeline.errors import ChargelineError

log = logging.getLogger("chargeline.alerting")
JOB_ID = "alerting:evaluate"


def alerting_job(engine: Engine, settings: Settings) -> None:
    """One scheduled pass; failures are logged, never raised into the scheduler."""
    try:
        report, sent = run_pass(engine, settings, datetime.now(UTC))
    except ChargelineError as exc:
        log.error("alerting pass failed: %s", exc)
        return
    except Exception:  # the next pass retries; the scheduler must keep running
        log.exception("alerting pass failed")
        return
    log.info("alerting: %d instances, %d firing, %d queued, %d sent, %d dead%s",
             report.evaluated, report.firing, report.queued, sent.sent, sent.dead,
             f" (skipped: {report.skipped})" if report.skipped else "")


def add_alerting_job(scheduler: BaseScheduler, engine: Engine, settings: Settings) -> None:
    """Register the alerting pass on ``scheduler`` (one instance at a time, coalesced)."""
    seconds = max(int(policy_for(settings).evaluation_interval.total_seconds()), 10)
    scheduler.add_job(alerting_job, IntervalTrigger(seconds=seconds, timezone=UTC),
                      args=[engine, settings], id=JOB_ID, name="alerting pass",
                      replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=seconds)
