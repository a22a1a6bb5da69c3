"""One collection pass of one source: lease, run row, poll, status.

The ``collector_runs`` row says what happened: ``ok`` (new or changed records),
``nodata`` (the source answered, nothing new) or ``error`` (the source or a stream
failed, the circuit is open, or the lease was lost) — a failing source is never
``nodata``. Every HTTP attempt of the pass is in ``api_calls`` under its ``run_id``.
When the pass is over (whatever its end), ``on_run_finished`` gets its ``run_id`` (the
entry room passes the OpenLineage emitter; this package never imports ``metrics``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from collectors.base import CollectContext, make_client, needs_http
from collectors.circuit import circuit_for
from collectors.data import leases
from collectors.data.recovery import close_interrupted_runs
from collectors.data.runs import finish_run, start_run
from collectors.gc_window import fewer_collections
from collectors.hooks import RunFinished, announce_run
from collectors.http import SourceHttp
from collectors.registry import collector_for
from core.config import Settings, SourceConfig
from core.errors import ChargelineError, SourceError
from core.model import RunStatus

log = logging.getLogger("chargeline.collectors")
_IN_PROCESS: dict[str, threading.Lock] = {}


class LeaseLost(SourceError):
    """Another collector took over this source mid-pass (our lease had expired)."""


class CircuitOpen(SourceError):
    """The source failed its last passes; it is left alone until its pause is over."""


@dataclass(frozen=True)
class RunResult:
    source: str
    run_id: str
    status: RunStatus
    records: int
    written: int
    quarantined: int
    error: str = ""


def _finish(engine: Engine, run_id: str, values: dict[str, Any], http: SourceHttp | None
            ) -> None:
    with engine.begin() as conn:
        if http is not None:
            http.flush(conn, everything=True)
        finish_run(conn, run_id, values)


def run_source(
    settings: Settings,
    engine: Engine,
    source: SourceConfig,
    *,
    holder: str = "",
    slot: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    on_run_finished: RunFinished | None = None,
) -> RunResult | None:
    """Poll ``source`` once. None when another collector (or another thread of this one)
    holds it, or this slot was polled already. ``on_run_finished(settings, engine,
    run_id)`` is called once the run's row is closed (its errors are logged, never
    raised)."""
    busy = _IN_PROCESS.setdefault(source.name, threading.Lock())
    if not busy.acquire(blocking=False):
        # the lease admits its own holder again (a restarted collector with the same id),
        # so passes of one process are kept apart here
        log.info("source %s: a pass is still running in this process, skipped", source.name)
        return None
    try:
        return _run_source(settings, engine, source, holder, slot, transport, sleep,
                           on_run_finished)
    finally:
        busy.release()


def _run_source(settings: Settings, engine: Engine, source: SourceConfig, holder: str,
                slot: datetime | None, transport: httpx.BaseTransport | None,
                sleep: Callable[[float], None] | None,
                on_run_finished: RunFinished | None) -> RunResult | None:
    holder = holder or settings.collector_id or leases.default_holder()
    now = datetime.now(UTC)
    run_id = str(uuid.uuid4())
    if not leases.acquire(engine, source.name, holder, slot or now, settings.lease_seconds,
                          run_id=run_id):
        log.info("source %s: slot taken by another collector, skipped", source.name)
        return None
    with engine.begin() as conn:
        # we hold the source's lease, so a pass still "running" here died mid-way (killed,
        # crashed, lease expired): say so; it resumed from its last committed page
        close_interrupted_runs(conn, now, source.name)
        start_run(conn, run_id, source.name, holder, now)
    circuit = circuit_for(source.name)
    http: SourceHttp | None = None
    client: httpx.Client | None = None
    ctx: CollectContext | None = None
    try:
        if not circuit.allows():
            raise CircuitOpen(f"circuit open after {circuit.failures} failed passes; next try "
                              f"in {circuit.seconds_left():.0f} s")
        ctx = CollectContext(source, settings, engine, None, run_id)
        if needs_http(source.kind):
            client = make_client(source, transport)
            http = SourceHttp(client, source, run_id,
                              **({"sleep": sleep} if sleep is not None else {}))
            ctx.http = http
            ctx.on_commit.append(http.flush)

        def renew_lease(conn: Connection) -> None:
            # the page transaction must not commit if another collector took the source
            if not leases.renew(conn, source.name, holder, settings.lease_seconds):
                raise LeaseLost(f"lease on {source.name} lost to another collector")

        ctx.on_commit.insert(0, renew_lease)
        with fewer_collections():
            collector_for(source.kind).poll(ctx)
        totals = ctx.totals
        if totals.stream_errors:
            error = "; ".join(totals.stream_errors)
            status, error_class = RunStatus.ERROR, error.split(":", 2)[1].strip() \
                if error.count(":") >= 2 else "SourceError"
        else:
            error, error_class = "", ""
            status = RunStatus.OK if totals.written else RunStatus.NODATA
        circuit.record(status is not RunStatus.ERROR)
        _finish(engine, run_id, {
            "status": status.value, "records": totals.written,
            "quarantined": totals.quarantined, "error_class": error_class[:64],
            "error": error[:4000], "newest_record_at": totals.newest}, http)
        return RunResult(source.name, run_id, status, totals.fetched, totals.written,
                         totals.quarantined, error)
    except (ChargelineError, httpx.HTTPError, OSError) as exc:
        if not isinstance(exc, CircuitOpen):  # a skipped pass does not lengthen the pause
            circuit.record(False)
        log.warning("source %s failed: %s", source.name, exc)
        _finish(engine, run_id, {"status": RunStatus.ERROR.value,
                                 "error_class": type(exc).__name__[:64],
                                 "error": str(exc)[:4000]}, http)
        return RunResult(source.name, run_id, RunStatus.ERROR, 0, 0, 0, str(exc))
    finally:
        if ctx is not None:
            ctx.close()
        if client is not None:
            client.close()
        leases.release(engine, source.name, holder)
        announce_run(on_run_finished, settings, engine, run_id)  # never raises
