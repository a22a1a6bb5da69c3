"""Interface and collector health for the triage page, in SQL (no Streamlit here).

Channel counts and hourly trends come from the metric points (``messages``: received,
acknowledged, NACKs; ``msg_status``: count per final status; ``msg_held``: messages the
receiver acknowledged late, and their wait); the engine's counters from
the newest ``channel_stats`` snapshot; API p95 from the raw calls of the window (one
indexed ORDER BY per endpoint); freshness from the collector runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from store.schema import api_calls, channel_stats, collector_runs
from store.schema_metrics import metric_points

mp = metric_points.c


def _points(metric: str, start: datetime, end: datetime) -> list[Any]:
    return [mp.metric == metric, mp.grain == "hour", mp.bucket >= start, mp.bucket < end]


STATUS_NAMES = {"F": "filtered", "Q": "queued", "S": "sent", "E": "errored"}


def channel_counts(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per channel in the window: received, acknowledged, NACKs, the count per final
    status (filtered, queued, sent, errored; R and T count as ``in_flight``), the oldest
    hour holding queued messages and the last hour with traffic."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    rows = conn.execute(
        select(mp.facility_id, mp.channel, func.sum(mp.num), func.sum(mp.den),
               func.sum(mp.amount), func.max(mp.bucket))
        .where(*_points("messages", start, end)).group_by(mp.facility_id, mp.channel))
    for fac, channel, received, acked, nacks, last in rows:
        out[(fac, channel)] = {"facility_id": fac, "channel": channel,
                               "received": int(received or 0), "acked": int(acked or 0),
                               "nacks": int(nacks or 0), "last_hour": last,
                               "oldest_queued_hour": None,
                               **{name: 0 for name in (*STATUS_NAMES.values(), "in_flight")}}
    rows = conn.execute(
        select(mp.facility_id, mp.channel, mp.detail, func.sum(mp.num), func.min(mp.bucket))
        .where(*_points("msg_status", start, end))
        .group_by(mp.facility_id, mp.channel, mp.detail))
    for fac, channel, status, n, first in rows:
        row = out.get((fac, channel))
        if row is None:
            continue
        name = STATUS_NAMES.get(status, "in_flight")
        row[name] += int(n or 0)
        if status == "Q":
            row["oldest_queued_hour"] = first
    return sorted(out.values(), key=lambda r: (r["facility_id"], r["channel"]))


def channel_held(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per channel and hour of receipt: the messages the receiver acknowledged late
    (``metrics.catalog.HELD_AFTER_S``) and the minutes they waited (hours without any are
    not stored)."""
    rows = conn.execute(
        select(mp.facility_id, mp.channel, mp.bucket, mp.num, mp.den)
        .where(*_points("msg_held", start, end)).order_by(mp.bucket, mp.channel))
    return [{"facility_id": f, "channel": c, "hour": b, "held": int(n), "wait_minutes": float(w)}
            for f, c, b, n, w in rows]


def channel_hourly(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per channel and hour: messages received and NACKed."""
    rows = conn.execute(
        select(mp.facility_id, mp.channel, mp.bucket, mp.num, mp.amount)
        .where(*_points("messages", start, end)).order_by(mp.bucket))
    return [{"facility_id": f, "channel": c, "hour": b, "received": int(n), "nacks": int(k)}
            for f, c, b, n, k in rows]


def api_hourly(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per source, endpoint and hour: calls, failed calls, 429s."""
    rows = conn.execute(
        select(mp.channel, mp.detail, mp.bucket, mp.num, mp.den, mp.amount)
        .where(*_points("api_calls", start, end)).order_by(mp.bucket))
    return [{"source": s, "endpoint": e, "hour": b, "calls": int(n), "failed": int(d),
             "throttled": int(t)} for s, e, b, n, d, t in rows]


def latest_channel_stats(conn: Connection) -> list[dict[str, Any]]:
    """The newest engine-statistics snapshot of each channel (cumulative counters, its
    state and connectors waiting); a channel is (facility, channel name)."""
    cs = channel_stats.c
    newest = (
        select(cs.facility_id, cs.channel, func.max(cs.observed_at).label("at"))
        .group_by(cs.facility_id, cs.channel)
        .subquery()
    )
    rows = conn.execute(
        select(cs.channel, cs.facility_id, cs.observed_at, cs.received, cs.filtered, cs.queued,
               cs.sent, cs.errored, cs.oldest_queued_at, cs.state, cs.waiting_connectors)
        .join(newest, (newest.c.channel == cs.channel) & (newest.c.at == cs.observed_at)
              & (newest.c.facility_id == cs.facility_id))
    ).mappings()
    return [dict(r) for r in rows]


def api_health(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per source and endpoint: calls, errors, 429s, p95 response time in ms, last success."""
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
        # p95 by nearest rank: one indexed ORDER BY per endpoint, portable to both backends.
        rank = max(0, int(0.95 * row["calls"] + 0.999) - 1)
        p95 = conn.execute(
            select(a.duration_ms).where(
                *window, a.source == row["source"], a.endpoint == row["endpoint"]
            ).order_by(a.duration_ms).limit(1).offset(rank)
        ).scalar_one_or_none()
        out.append({**row, "p95_ms": p95})
    return out


def source_freshness(conn: Connection) -> list[dict[str, Any]]:
    """Per source: last run, its status and error, last success, newest record seen."""
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
        out.append({**row, "last_status": last["status"], "last_error": last["error_class"],
                    "last_error_text": last["error"][:200]})
    return out
