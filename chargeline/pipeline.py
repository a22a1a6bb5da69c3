"""What follows a collection pass: recompute the metrics the new rows touched, evaluate the
governance rules, queue and send the stewards' digests.

This module only assembles the edges (metrics, alerting) in the order data flows; each
step's logic lives in its own package. It builds what alerting reads from metrics (the
store's metric reader, the live lineage map) and hands it to ``alerting.service.run_pass``.
The collector process calls ``after_collection`` after every pass that wrote rows, and
runs ``evaluate_on_schedule`` on its own timer so alerts move (pending -> firing, nodata,
repeat digests) even when no data arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from alerting.service import run_pass
from chargeline.retention import retention_job
from core.config import Settings
from metrics.compute.dbtune import vacuum_refilled
from metrics.compute.run import compute
from metrics.lineage.data import live_lineage
from metrics.read.reader import StoreMetricReader
from store.engine import checkpoint_wal

log = logging.getLogger("chargeline.pipeline")

EVALUATION_INTERVAL_SECONDS = 60  # rules move on their own clock, data or not
DISPATCH_INTERVAL_SECONDS = 30  # retries of a failing mail relay are paced by the outbox


@dataclass(frozen=True)
class PipelineReport:
    """What one pass after collection did, for logs and the demo's console."""

    metrics_seconds: float
    metrics_full: bool
    encounters: int
    alerts_evaluated: int
    alerts_firing: int
    digests_queued: int
    mails_sent: int
    mails_retrying: int
    mails_waiting: int = 0  # kept queued: the mail relay is down (alerting.outbox logs why)

    def summary(self) -> str:
        scope = "full" if self.metrics_full else f"incremental ({self.encounters} encounters)"
        return (f"metrics {scope} in {self.metrics_seconds:.1f}s; "
                f"{self.alerts_evaluated} alert instances, {self.alerts_firing} firing; "
                f"{self.digests_queued} digests queued, {self.mails_sent} mails sent"
                + (f", {self.mails_retrying} retrying" if self.mails_retrying else "")
                + (f", {self.mails_waiting} waiting for the mail relay"
                   if self.mails_waiting else ""))


def after_collection(settings: Settings, engine: Engine, now: datetime | None = None, *,
                     full: bool = False) -> PipelineReport:
    """Metrics (incremental unless ``full``), then rule evaluation and mail, at ``now``."""
    now = now or datetime.now(UTC)
    computed = compute(engine, settings.sla, full=full, now=now)
    notified, dispatched = run_pass(engine, settings, StoreMetricReader(engine, settings),
                                    live_lineage, now)
    checkpoint_wal(engine, "PASSIVE")  # the pass's pages into the file, off its path
    if computed.full:
        vacuum_refilled(engine)  # PostgreSQL: the next passes read the fact indexes alone
    return PipelineReport(
        metrics_seconds=computed.seconds, metrics_full=computed.full,
        encounters=computed.encounters, alerts_evaluated=notified.evaluated,
        alerts_firing=notified.firing, digests_queued=notified.queued,
        mails_sent=dispatched.sent, mails_retrying=dispatched.retried,
        mails_waiting=dispatched.waiting)


def evaluate_on_schedule(settings: Settings, engine: Engine) -> None:
    """The timed rule pass: evaluate with the stored metrics and send what is due."""
    notified, dispatched = run_pass(engine, settings, StoreMetricReader(engine, settings),
                                    live_lineage, datetime.now(UTC))
    log.info("rules: %d instances, %d firing; %d mails sent%s", notified.evaluated,
             notified.firing, dispatched.sent,
             f", {dispatched.waiting} waiting for the mail relay" if dispatched.waiting
             else "")


def collector_hooks(settings: Settings, engine: Engine
                    ) -> tuple[Callable[[], None], list[tuple[str, int, Callable[[], None]]]]:
    """The collector process's ``after_pass`` hook and its extra periodic jobs."""

    def after_pass() -> None:
        report = after_collection(settings, engine)
        log.info("after collection: %s", report.summary())

    def evaluate() -> None:
        evaluate_on_schedule(settings, engine)

    jobs: list[tuple[str, int, Callable[[], None]]] = [
        ("rules:evaluate", EVALUATION_INTERVAL_SECONDS, evaluate)]
    if settings.retention.enabled:  # records older than the policy, in batches
        jobs.append(("retention", settings.retention.interval_seconds,
                     retention_job(settings, engine)))
    return after_pass, jobs
