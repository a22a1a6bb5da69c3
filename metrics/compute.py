"""Run the metric computation: full, or incremental from the compute watermark.

A full pass rebuilds every derived table in one pass per stage. An incremental pass
redoes the encounters rows ingested since the watermark can change (``metrics.dirty``),
moves the usage points by delta, and recomputes feed points for the hours new feed rows
fall in. The first pass, or ``full=True``, is full.

The watermark is the newest ``ingested_at`` seen; rows ingested up to ``INGEST_OVERLAP``
before it are looked at again, so a collector transaction that committed late (its
``ingested_at`` older than a row another one committed first) is never skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, func, select

from chargeline.config import ChargeSla
from metrics.charge_facts import build_charge_facts, find_duplicates
from metrics.dirty import feed_hours, mark_dirty
from metrics.exceptions import sync_exceptions
from metrics.feeds import billing_horizons, erp_horizons, update_feed_sources
from metrics.points import (
    duplicate_points,
    feed_points,
    usage_points_delta,
    usage_points_full,
)
from metrics.stitching import stitch
from metrics.usage_facts import build_usage_facts
from store.schema import FACT_TABLES, api_calls
from store.schema_metrics import metric_state
from store.upsert import upsert_rows

WATERMARK = "ingested_watermark"
CALL_WATERMARK = "api_call_watermark"
SLA_STATE = "sla"
INGEST_OVERLAP = timedelta(seconds=30)


@dataclass(frozen=True)
class ComputeResult:
    """What one pass did: full or incremental, encounters and feed hours redone (-1 on a
    full pass), and how long it took."""

    full: bool
    encounters: int
    hours: int
    seconds: float


def _state(conn: Connection, name: str) -> str | None:
    return conn.execute(select(metric_state.c.value).where(
        metric_state.c.name == name)).scalar_one_or_none()


def _set_state(conn: Connection, name: str, value: str, now: datetime) -> None:
    upsert_rows(conn, metric_state, [{"name": name, "value": value, "updated_at": now}])


def _newest_ingest(conn: Connection) -> datetime | None:
    newest = [conn.execute(select(func.max(t.c.ingested_at))).scalar()
              for t in FACT_TABLES.values()]
    present = [n for n in newest if n is not None]
    return max(present) if present else None


def to_ranges(hours: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Merge hour starts into half-open ranges of consecutive hours."""
    out: list[tuple[datetime, datetime]] = []
    for h in sorted(hours):
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + timedelta(hours=1))
        else:
            out.append((h, h + timedelta(hours=1)))
    return out


def _full(conn: Connection, sla: ChargeSla, now: datetime) -> None:
    update_feed_sources(conn, None)
    billing, erp = billing_horizons(conn, now), erp_horizons(conn, now)
    stitch(conn, True)
    build_charge_facts(conn, True)
    find_duplicates(conn, sla, True)
    build_usage_facts(conn, sla, True, billing_horizon=billing, erp_horizon=erp)
    usage_points_full(conn)
    duplicate_points(conn)
    feed_points(conn, None)
    sync_exceptions(conn, now, True)


def _incremental(conn: Connection, sla: ChargeSla, now: datetime, since: datetime,
                 call_mark: int) -> tuple[int, int]:
    update_feed_sources(conn, since)
    billing, erp = billing_horizons(conn, now), erp_horizons(conn, now)
    n_encounters = mark_dirty(conn, since, billing, erp)
    if n_encounters:
        usage_points_delta(conn, -1)
        stitch(conn, False)
        build_charge_facts(conn, False)
        find_duplicates(conn, sla, False)
        build_usage_facts(conn, sla, False, billing_horizon=billing, erp_horizon=erp)
        usage_points_delta(conn, 1)
        duplicate_points(conn)
    ranges = to_ranges(feed_hours(conn, since, call_mark))
    if ranges:
        feed_points(conn, ranges)
    if n_encounters:
        sync_exceptions(conn, now, False)
    return n_encounters, sum(int((hi - lo) / timedelta(hours=1)) for lo, hi in ranges)


def compute(engine: Engine, sla: ChargeSla, *, full: bool = False,
            now: datetime | None = None) -> ComputeResult:
    """Bring every metric table up to date with the canonical tables."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        mark_text = _state(conn, WATERMARK)
        call_mark = int(_state(conn, CALL_WATERMARK) or 0)
        newest = _newest_ingest(conn)
        newest_call = conn.execute(select(func.max(api_calls.c.call_id))).scalar() or 0
        sla_text = sla.model_dump_json()
        if mark_text is None or _state(conn, SLA_STATE) != sla_text:
            full = True  # first pass, or the SLA changed every status
        if full:
            _full(conn, sla, now)
            n_encounters = n_hours = -1
        else:
            since = datetime.fromisoformat(mark_text) - INGEST_OVERLAP  # type: ignore[arg-type]
            n_encounters, n_hours = _incremental(conn, sla, now, since, call_mark)
        if newest is not None:
            _set_state(conn, WATERMARK, newest.isoformat(), now)
        elif mark_text is None:
            _set_state(conn, WATERMARK, datetime(1970, 1, 1, tzinfo=UTC).isoformat(), now)
        _set_state(conn, CALL_WATERMARK, str(newest_call), now)
        _set_state(conn, SLA_STATE, sla_text, now)
    return ComputeResult(full, n_encounters, n_hours, time.perf_counter() - started)
