"""Metrics read from feed rows: API health, collector runs, freshness, queues, channel
states, volume anomalies and the open exception queue."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, case, func, or_, select

from core.metric_values import MetricValue
from metrics.read.common import Read, nearest_rank, pct, scope_columns, scope_of, value
from store.schema import (
    api_calls,
    channel_stats,
    collector_runs,
    interface_messages,
    usage_events,
)
from store.schema_metrics import metric_exceptions

API_SCOPE = {"source": "source", "endpoint": "endpoint"}
TRAINING_DAYS = 7  # the same window on each of the 7 days before
MIN_TRAINING = 3  # fewer past samples than this: not enough history (NODATA)
TRAINING_WEEKS = 8  # the same hour on the same weekday, up to 8 weeks back ...
MIN_WEEKS = 3  # ... used instead of the 7 days once this many past weeks are history
MIN_ABS_CHANGE = 5.0  # a change smaller than this many records is never an anomaly
MIN_REL_CHANGE = 0.2  # ... nor one smaller than 20% of the usual volume
OPEN_STATUSES = ("open", "acknowledged", "investigating")


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60.0


def read_api(conn: Connection, read: Read) -> list[MetricValue]:
    """p95 response time, error rate and 429s of API calls in the window."""
    a = api_calls
    scope = scope_columns(read, a, API_SCOPE)
    in_window = and_(a.c.started_at >= read.start, a.c.started_at < read.now)
    n = len(scope)
    if read.metric == "api_p95_ms":
        keys = [c for c in scope]
        base = select(*keys, a.c.duration_ms.label("v")).where(in_window).subquery()
        rows = nearest_rank(conn, read, base, 0.95)
        return [value(read, scope_of(read, r), r[n], denominator=r[n + 1]) for r in rows]
    failed = or_(a.c.status_code >= 400, a.c.error_class != "", a.c.status_code.is_(None))
    rows = conn.execute(select(
        *scope, func.count(), func.sum(case((failed, 1), else_=0)),
        func.sum(case((a.c.status_code == 429, 1), else_=0)),
    ).where(in_window).group_by(*scope)).all()
    out = []
    for r in rows:
        calls, errors, throttled = float(r[n]), float(r[n + 1] or 0), float(r[n + 2] or 0)
        if read.metric == "api_error_rate_pct":
            out.append(value(read, scope_of(read, r), pct(errors, calls), numerator=errors,
                             denominator=calls))
        else:
            out.append(value(read, scope_of(read, r), throttled, denominator=calls))
    return out


def read_runs(conn: Connection, read: Read) -> list[MetricValue]:
    """Minutes since the last successful run, or since the newest record delivered (ERROR
    while the source's last run failed). Without a scope: the worst source."""
    r = collector_runs
    scope_columns(read, r, {"source": "source"})
    success = r.c.status.in_(("ok", "nodata"))
    rows = conn.execute(select(
        r.c.source, func.max(case((success, func.coalesce(r.c.finished_at, r.c.started_at)))),
        func.min(r.c.started_at), func.max(r.c.newest_record_at),
    ).where(r.c.started_at < read.now).group_by(r.c.source)).all()
    out = []
    for source, last_ok, first_run, newest in rows:
        scope = {"source": source} if read.scope_keys else {}
        if read.metric == "minutes_since_success":
            # Never succeeded: it has been failing since its first run (what a rule
            # compares); the detail says "never", so nobody reads it as a recent success.
            out.append(value(read, scope, _minutes(read.now - (last_ok or first_run)),
                             extra={"never_succeeded": 1.0} if last_ok is None else None))
            continue
        expected = read.cadence.get(source, 0.0)
        number = None if newest is None else max(0.0, _minutes(read.now - newest) - expected)
        failing = read.health.failing.get(source, "")
        out.append(value(read, scope, number,
                         extra={"expected_every_minutes": expected} if expected else None,
                         error=f"source {source} is failing: {failing}" if failing else ""))
    if not read.scope_keys and out:
        failed = [v for v in out if v.error]
        return [failed[0] if failed else max(out, key=lambda v: v.value or 0.0)]
    return out


def read_queue(conn: Connection, read: Read) -> list[MetricValue]:
    """Depth and age of each channel's queue at its newest engine snapshot in the window;
    from the message log (status Q) for channels without engine statistics. A channel is
    (facility, channel name)."""
    cs = channel_stats
    scope_columns(read, cs, {"facility": "facility_id", "channel": "channel"})
    newest = select(cs.c.channel, cs.c.facility_id, cs.c.queued, cs.c.oldest_queued_at,
                    func.row_number().over(partition_by=(cs.c.facility_id, cs.c.channel),
                                           order_by=cs.c.observed_at.desc()).label("rn")).where(
        cs.c.observed_at >= read.start, cs.c.observed_at <= read.now).subquery()
    snap = {(fac, ch): (q, oldest) for ch, fac, q, oldest in conn.execute(select(
        newest.c.channel, newest.c.facility_id, newest.c.queued, newest.c.oldest_queued_at)
        .where(newest.c.rn == 1))}
    m = interface_messages
    for ch, fac, q, oldest in conn.execute(select(
            m.c.channel, m.c.facility_id, func.count(), func.min(m.c.received_at))
            .where(m.c.status == "Q", m.c.received_at >= read.now - timedelta(days=7),
                   m.c.received_at < read.now).group_by(m.c.facility_id, m.c.channel)):
        snap.setdefault((fac, ch), (q, oldest))
    per_scope: dict[tuple[str, ...], tuple[float, float]] = {}
    for (fac, ch), (queued, oldest) in snap.items():
        age = _minutes(read.now - oldest) if queued and oldest is not None else 0.0
        key = tuple({"facility": fac, "channel": ch}[k] for k in read.scope_keys)
        depth0, age0 = per_scope.get(key, (0.0, 0.0))
        per_scope[key] = (depth0 + float(queued), max(age0, max(age, 0.0)))
    feeds = ("interface_message", "channel_stats")
    return [value(read, dict(zip(read.scope_keys, key, strict=True)),
                  depth if read.metric == "queue_depth" else age, feeds=feeds)
            for key, (depth, age) in sorted(per_scope.items())]


# channel_stopped: how far a channel is from running, by its newest snapshot's state
STOPPED_LEVEL = {"paused": 1.0, "stopped": 2.0, "error": 2.0}


def read_channel_stopped(conn: Connection, read: Read) -> list[MetricValue]:
    """Per channel (facility, channel name), from its newest engine snapshot in the window
    that says a state: 2 stopped (or in error), 1 paused, 0 otherwise; a coarser scope
    takes its worst channel. Snapshots whose source says no state ('') are not read."""
    cs = channel_stats
    scope_columns(read, cs, {"facility": "facility_id", "channel": "channel"})
    newest = select(cs.c.channel, cs.c.facility_id, cs.c.state,
                    func.row_number().over(partition_by=(cs.c.facility_id, cs.c.channel),
                                           order_by=cs.c.observed_at.desc()).label("rn")).where(
        cs.c.observed_at >= read.start, cs.c.observed_at <= read.now, cs.c.state != ""
    ).subquery()
    per_scope: dict[tuple[str, ...], list[str]] = {}
    for ch, fac, state in conn.execute(select(newest.c.channel, newest.c.facility_id,
                                              newest.c.state).where(newest.c.rn == 1)):
        key = tuple({"facility": fac, "channel": ch}[k] for k in read.scope_keys)
        per_scope.setdefault(key, []).append(state)
    out = []
    for key, states in sorted(per_scope.items()):
        levels = [STOPPED_LEVEL.get(s, 0.0) for s in states]
        out.append(value(read, dict(zip(read.scope_keys, key, strict=True)), max(levels),
                         numerator=sum(1 for v in levels if v), denominator=len(levels),
                         extra={"paused": float(states.count("paused")),
                                "stopped": float(states.count("stopped")
                                                 + states.count("error"))},
                         feeds=("channel_stats",)))
    return out


def _history(began: datetime | None, spans: list[tuple[datetime, datetime]],
             counts: list[float]) -> list[float]:
    """The counts of the windows after the feed began (a new feed is not "usually zero");
    it begins at its first message among the rows read, less one window."""
    if began is None:
        return []  # no message at all: no history
    return [c for (lo, _), c in zip(spans, counts, strict=True) if lo >= began]


def read_volume_anomaly(conn: Connection, read: Read) -> list[MetricValue]:
    """z-score of this window's volume against its seasonal baseline: the same window
    (hour) on the same weekday of each of the past ``TRAINING_WEEKS`` weeks when at least
    ``MIN_WEEKS`` of them are history, else the same window on each of the previous
    ``TRAINING_DAYS`` days; 0 when the change is below the minimum absolute change."""
    feed = read.param("feed", "messages")
    if feed == "messages":
        t, at = interface_messages, interface_messages.c.received_at
        mapping = {"facility": "facility_id", "channel": "channel"}
    elif feed == "usage":
        t, at = usage_events, usage_events.c.used_at
        mapping = {"facility": "facility_id", "location": "location_id"}
    else:
        raise ValueError(f"feed {feed!r} unknown; use messages or usage")
    scope = scope_columns(read, t, mapping)
    day, week = timedelta(days=1), timedelta(days=7)
    days = [(read.start - k * day, read.now - k * day) for k in range(TRAINING_DAYS + 1)]
    weeks = [(read.start - k * week, read.now - k * week)
             for k in range(2, TRAINING_WEEKS + 1)]  # week 1 is the 7th day
    windows = days + weeks
    sums = [func.sum(case((and_(at >= lo, at < hi), 1), else_=0)) for lo, hi in windows]
    # every row of the last 8 days (so a scope quiet in this window still has a value),
    # and beyond them only the rows of the weekly windows
    rows = conn.execute(select(*scope, func.min(at), *sums).where(
        at < read.now, or_(at >= days[-1][0], *(and_(at >= lo, at < hi) for lo, hi in weeks))
    ).group_by(*scope)).all()
    n = len(scope)
    out = []
    for r in rows:
        first_seen = r[n]
        counts = [float(x or 0) for x in r[n + 1:]]
        current = counts[0]

        began = None if first_seen is None else first_seen - read.window
        weekly = _history(began, [days[-1], *weeks],
                          [counts[TRAINING_DAYS], *counts[len(days):]])
        daily = _history(began, days[1:], counts[1:TRAINING_DAYS + 1])
        past, basis = (weekly, "baseline_weeks") if len(weekly) >= MIN_WEEKS else (
            daily, "baseline_days")
        if len(past) < MIN_TRAINING:
            out.append(value(read, scope_of(read, r), None, numerator=current, nodata=True))
            continue
        mean = sum(past) / len(past)
        sd = math.sqrt(sum((c - mean) ** 2 for c in past) / (len(past) - 1))
        sd = max(sd, math.sqrt(mean), 1.0)  # Poisson floor: quiet feeds do not flap
        change = current - mean
        z = 0.0 if abs(change) < max(MIN_ABS_CHANGE, MIN_REL_CHANGE * mean) else change / sd
        out.append(value(read, scope_of(read, r), z, numerator=current,
                         extra={"mean": round(mean, 3), "sd": round(sd, 3),
                                basis: float(len(past))}))
    return out


def read_open_exceptions(conn: Connection, read: Read) -> list[MetricValue]:
    """Rows a steward still has to work (open, acknowledged, investigating)."""
    e = metric_exceptions
    scope = scope_columns(read, e, {"facility": "facility_id"})
    cond = [e.c.status.in_(OPEN_STATUSES)]
    kind = read.param("kind")
    if kind:
        cond.append(e.c.kind == kind)
    rows = conn.execute(select(*scope, func.count(), func.sum(e.c.amount)).where(*cond)
                        .group_by(*scope)).all()
    n = len(scope)
    return [value(read, scope_of(read, r), float(r[n]), amount=float(r[n + 1] or 0))
            for r in rows]


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    **dict.fromkeys(("api_p95_ms", "api_error_rate_pct", "api_throttled"), read_api),
    **dict.fromkeys(("minutes_since_success", "freshness_minutes"), read_runs),
    **dict.fromkeys(("queue_depth", "queue_age_minutes"), read_queue),
    "channel_stopped": read_channel_stopped,
    "volume_anomaly_z": read_volume_anomaly,
    "open_exceptions": read_open_exceptions,
}
