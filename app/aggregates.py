"""Aggregates for the overview and interface pages, computed in SQL (no Streamlit here).

Every function takes an open connection and a time window and returns small lists of
dicts: the database does the counting, the page only draws.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from app.datasets import DATASETS, Dataset
from store.schema import (
    api_calls,
    channel_stats,
    collector_runs,
    interface_messages,
    usage_events,
)


def hour_bucket(conn: Connection, column: ColumnElement) -> ColumnElement:
    """The start of the hour of ``column`` as SQL, on SQLite and PostgreSQL."""
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_trunc("hour", column)


def _window(ds: Dataset, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [ds.where, ds.time >= start, ds.time < end]


def latest_activity(conn: Connection) -> datetime | None:
    """The newest usage time in the store: the default end of every window."""
    return conn.execute(select(func.max(usage_events.c.used_at))).scalar_one_or_none()


def facility_counts(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Rows of (dataset, facility_id, n) for every dataset in the window."""
    out: list[dict[str, Any]] = []
    for ds in DATASETS.values():
        fac = ds.table.c.facility_id
        rows = conn.execute(
            select(fac, func.count().label("n")).where(*_window(ds, start, end)).group_by(fac)
        )
        out += [{"dataset": ds.name, "facility_id": f, "n": int(n)} for f, n in rows]
    return out


def hourly_counts(
    conn: Connection, dataset: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Rows of (facility_id, hour, n) for one dataset in the window."""
    ds = DATASETS[dataset]
    hour = hour_bucket(conn, ds.time).label("hour")
    fac = ds.table.c.facility_id
    rows = conn.execute(
        select(fac, hour, func.count().label("n"))
        .where(*_window(ds, start, end))
        .group_by(fac, hour)
        .order_by(hour)
    )
    return [{"facility_id": f, "hour": str(h)[:19], "n": int(n)} for f, h, n in rows]


def channel_health(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per channel in the window: received, filtered, queued, sent, errored, NACKs and the
    oldest queued message (queue age is measured against ``end``)."""
    m = interface_messages.c
    count_status = {s: func.sum(case((m.status == code, 1), else_=0)) for s, code in
                    (("filtered", "F"), ("queued", "Q"), ("sent", "S"), ("errored", "E"))}
    rows = conn.execute(
        select(
            m.channel,
            func.max(m.facility_id).label("facility_id"),
            func.count().label("received"),
            *(expr.label(name) for name, expr in count_status.items()),
            func.sum(case((m.ack_code.in_(("AE", "AR")), 1), else_=0)).label("nacks"),
            func.sum(case((m.ack_code.is_not(None), 1), else_=0)).label("acked"),
            func.min(case((m.status == "Q", m.received_at), else_=None)).label("oldest_queued"),
            func.max(m.received_at).label("last_received"),
        )
        .where(m.received_at >= start, m.received_at < end)
        .group_by(m.channel)
        .order_by(m.channel)
    ).mappings()
    return [dict(r) for r in rows]


def latest_channel_stats(conn: Connection) -> list[dict[str, Any]]:
    """The newest engine-statistics snapshot of each channel (cumulative counters)."""
    newest = (
        select(channel_stats.c.channel, func.max(channel_stats.c.observed_at).label("at"))
        .group_by(channel_stats.c.channel)
        .subquery()
    )
    rows = conn.execute(
        select(channel_stats).join(
            newest,
            (newest.c.channel == channel_stats.c.channel)
            & (newest.c.at == channel_stats.c.observed_at),
        )
    ).mappings()
    return [dict(r) for r in rows]


def api_health(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per source and endpoint: calls, errors, 429s, p95 response time in ms."""
    a = api_calls.c
    window = (a.started_at >= start, a.started_at < end)
    is_error = (a.status_code.is_(None)) | (a.status_code >= 400) | (a.error_class != "")
    rows = conn.execute(
        select(
            a.source, a.endpoint, func.count().label("calls"),
            func.sum(case((is_error, 1), else_=0)).label("errors"),
            func.sum(case((a.status_code == 429, 1), else_=0)).label("throttled"),
            func.max(case((~is_error, a.started_at), else_=None)).label("last_success"),
        ).where(*window).group_by(a.source, a.endpoint).order_by(a.source, a.endpoint)
    ).mappings().all()
    out = []
    for row in rows:
        # p95 by rank: one indexed ORDER BY per endpoint, portable across both backends.
        rank = max(0, int(0.95 * row["calls"] + 0.999) - 1)
        p95 = conn.execute(
            select(a.duration_ms).where(
                *window, a.source == row["source"], a.endpoint == row["endpoint"]
            ).order_by(a.duration_ms).limit(1).offset(rank)
        ).scalar_one_or_none()
        out.append({**row, "p95_ms": p95})
    return out


def source_freshness(conn: Connection) -> list[dict[str, Any]]:
    """Per source: last run, its status, last successful run and newest record seen."""
    r = collector_runs.c
    ok = r.status.in_(("ok", "nodata"))
    rows = conn.execute(
        select(
            r.source,
            func.max(r.started_at).label("last_run"),
            func.max(case((ok, r.finished_at), else_=None)).label("last_success"),
            func.max(r.newest_record_at).label("newest_record"),
            func.sum(case((r.status == "error", 1), else_=0)).label("failed_runs"),
            func.count().label("runs"),
        ).group_by(r.source).order_by(r.source)
    ).mappings().all()
    out = []
    for row in rows:
        last = conn.execute(
            select(r.status, r.error_class, r.error)
            .where(r.source == row["source"]).order_by(r.started_at.desc()).limit(1)
        ).mappings().one()
        out.append({**row, "last_status": last["status"], "last_error": last["error_class"]})
    return out
