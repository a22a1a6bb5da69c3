"""Retention in the running system: ``chargeline db retain`` and the collector's job.

Both age out canonical records older than the policy (``settings.retention``; the rule and
what stays are in ``metrics.compute.retention``) in batches, each batch under the lease the
metrics passes run under (``job:after-pass``), so no pass sees half a batch and a pass
waiting for the lease gets it between two batches.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

import typer
from sqlalchemy import Engine

from collectors.data import leases
from collectors.data.leases import default_holder
from collectors.scheduler import HOOK_LEASE, HOOK_LEASE_SECONDS
from core.config import RetentionPolicy, Settings, load_settings
from core.errors import ConfigError
from metrics.compute.retention import RetentionResult, cutoff_for, retain
from store.engine import checkpoint_wal
from store.migrate import open_store

log = logging.getLogger("chargeline.retention")
YIELD_EVERY_S = 5.0  # after this much work, leave the lease free long enough for a pass
YIELD_PAUSE_S = 0.6  # a waiting pass retries the lease every 0.5 s


def pass_lease(engine: Engine, holder: str, *, wait_s: float = HOOK_LEASE_SECONDS
               ) -> Callable[[], AbstractContextManager[None]]:
    """A guard for ``retain``: each batch holds the metrics passes' lease; every
    ``YIELD_EVERY_S`` of work it pauses once so a waiting pass can take it."""
    state = {"since_pause": time.monotonic()}

    @contextmanager
    def guard() -> Iterator[None]:
        deadline = time.monotonic() + wait_s
        while not leases.acquire(engine, HOOK_LEASE, holder, datetime.now(UTC),
                                 HOOK_LEASE_SECONDS):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{HOOK_LEASE} stayed held for {wait_s:.0f} s")
            time.sleep(0.5)
        try:
            yield
        finally:
            leases.release(engine, HOOK_LEASE, holder)
            if time.monotonic() - state["since_pause"] > YIELD_EVERY_S:
                time.sleep(YIELD_PAUSE_S)
                state["since_pause"] = time.monotonic()

    return guard


def run_retention(settings: Settings, engine: Engine, *, dry_run: bool = False,
                  months: int | None = None, batch: int | None = None,
                  now: datetime | None = None,
                  progress: Callable[[RetentionResult], None] | None = None
                  ) -> RetentionResult:
    """Age out what the policy (or ``months``) no longer keeps, batch by batch."""
    policy = settings.retention
    now = now or datetime.now(UTC)
    cutoff = cutoff_for(now, months or policy.raw_months)
    holder = f"retention:{default_holder()}"
    result = retain(engine, cutoff, batch=batch or policy.batch_encounters, dry_run=dry_run,
                    now=now, guard=pass_lease(engine, holder), progress=progress)
    if result.encounters and not dry_run:
        checkpoint_wal(engine, "PASSIVE")
    return result


def retention_job(settings: Settings, engine: Engine) -> Callable[[], None]:
    """The collector process's periodic job (``chargeline.pipeline.collector_hooks``)."""

    def job() -> None:
        result = run_retention(settings, engine)
        if result.encounters:
            log.info("retention: %s", result.summary())

    return job


def _check_months(months: int | None) -> int | None:
    if months is None:
        return None
    try:
        RetentionPolicy(raw_months=months)
    except ValueError:
        raise ConfigError(f"--months {months}: keep at least 1 month and at most 1200 "
                          "(the policy's raw_months, default 13)") from None
    return months


def retain_command(
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="count what would go, delete nothing"),
    months: int | None = typer.Option(None, "--months", help="keep this many months "
                                      "instead of the policy's retention.raw_months"),
    batch: int | None = typer.Option(None, "--batch", min=1,
                                     help="encounters per transaction (policy default)"),
) -> None:
    """Age out canonical records older than the retention policy (13 months by default).

    Whole encounters whose every record is older go, in batches; hourly and daily metric
    points, the exception queue and the audit stay."""
    settings = load_settings()
    months = _check_months(months)
    engine = open_store(settings.database_url)
    started = time.monotonic()
    last = [started]

    def progress(result: RetentionResult) -> None:
        if time.monotonic() - last[0] >= 2.0:
            last[0] = time.monotonic()
            rate = result.canonical_rows / result.seconds if result.seconds else 0.0
            print(f"  batch {result.batches}: {result.encounters:,} encounters, "
                  f"{result.canonical_rows:,} rows so far ({rate:,.0f} rows/s)",
                  file=sys.stderr, flush=True)

    result = run_retention(settings, engine, dry_run=dry_run, months=months, batch=batch,
                           progress=progress)
    typer.echo(result.summary())
    if dry_run:
        typer.echo("dry run: nothing was deleted")
