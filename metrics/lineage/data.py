"""The lineage room's store queries: those behind the system graph (a handful of indexed
look-ups per source, channel and facility, no scan of a fact table, then the pure
``metrics.lineage.graph`` builds it), and what one collector run wrote, which
``metrics.lineage.openlineage`` reports.

``system_graph(engine, settings, now)`` is what the dashboard and the alerting pass call;
``run_facts(engine, run_id)`` is a ``collector_runs`` row with its writes and calls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, func, or_, select, text

from core.config import Settings
from metrics.lineage.graph import (
    ChannelObservation,
    FacilityFlow,
    LineageGraph,
    Observations,
    SourceObservation,
    Thresholds,
    build_graph,
    channel_key,
    lineage_map,
)
from store.schema import (
    FACT_TABLES,
    api_calls,
    channel_stats,
    charges,
    collector_runs,
    facilities,
    interface_messages,
    inventory_transactions,
    quarantined_records,
    replenishment_documents,
    usage_events,
)

SEEN_SOURCES_DAYS = 7  # a source not run for a week and not configured is left out
RECORD_LAG_SCANS = 200  # newest scans per facility the scan-to-EHR lag is read over
# Tables whose rows carry ``source`` and ``ingested_at``, so a run's writes can be counted.
COUNTED = frozenset(t.name for t in FACT_TABLES.values())


def distinct_values(conn: Connection, table: Table, column: str) -> list[str]:
    """Distinct values of an indexed column by a loose index scan (one seek per value),
    so listing the channels of a 10M-message table costs as much as of a small one."""
    name, col = table.name, column
    sql = text(
        f"WITH RECURSIVE v(x) AS (SELECT min({col}) FROM {name} UNION ALL "
        f"SELECT (SELECT min({col}) FROM {name} WHERE {col} > v.x) FROM v "
        f"WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL")
    return [row[0] for row in conn.execute(sql)]


def _source(conn: Connection, name: str, now: datetime, since: datetime) -> SourceObservation:
    r, a = collector_runs, api_calls
    mine = r.c.source == name
    last = conn.execute(select(r.c.status, r.c.started_at, r.c.finished_at, r.c.error_class,
                               r.c.error).where(mine, r.c.status != "running")
                        .order_by(r.c.started_at.desc()).limit(1)).first()
    success = conn.execute(select(r.c.finished_at, r.c.started_at).where(
        mine, r.c.status.in_(("ok", "nodata"))).order_by(r.c.started_at.desc()).limit(1)
    ).first()
    newest = conn.execute(select(func.max(r.c.newest_record_at)).where(
        mine, r.c.started_at >= now - timedelta(days=SEEN_SOURCES_DAYS))).scalar()
    failed = or_(a.c.status_code >= 400, a.c.status_code.is_(None), a.c.error_class != "")
    calls = conn.execute(select(
        func.count(), func.coalesce(func.sum(case((failed, 1), else_=0)), 0),
        func.coalesce(func.sum(case((a.c.status_code == 429, 1), else_=0)), 0),
    ).where(a.c.source == name, a.c.started_at >= since)).one()
    error = ""
    if last is not None and last.status == "error":
        error = ": ".join(p for p in (last.error_class, (last.error or "")[:200]) if p)
    return SourceObservation(
        source=name, last_status=last.status if last else "",
        last_run_at=(last.finished_at or last.started_at) if last else None, last_error=error,
        last_success_at=(success.finished_at or success.started_at) if success else None,
        newest_record_at=newest, calls=int(calls[0]), failed_calls=int(calls[1]),
        throttled=int(calls[2]))


def _facilities_of(conn: Connection, name: str, recent: datetime) -> set[str]:
    """The facilities whose engine has a channel ``name``: those of its messages and
    counter snapshots since ``recent`` (index ranges on (channel, time)), and of its newest
    message and snapshot however old, so a channel quiet for a week is still drawn."""
    m, s = interface_messages, channel_stats
    found: set[str] = set()
    for table, at in ((m, m.c.received_at), (s, s.c.observed_at)):
        mine = table.c.channel == name
        found |= set(conn.execute(select(table.c.facility_id).where(mine, at >= recent)
                                  .distinct()).scalars())
        found |= set(conn.execute(select(table.c.facility_id).where(mine)
                                  .order_by(at.desc()).limit(1)).scalars())
    return found


def _channel(conn: Connection, name: str, facility: str, since: datetime
             ) -> ChannelObservation:
    """One facility's channel ``name`` (the store keys messages by channel and facility)."""
    m, s = interface_messages, channel_stats
    latest = conn.execute(select(m.c.message_type, m.c.received_at).where(
        m.c.channel == name, m.c.facility_id == facility)
        .order_by(m.c.received_at.desc()).limit(1)).first()
    counts = conn.execute(select(
        func.count(),
        func.coalesce(func.sum(case((m.c.status == "E", 1), else_=0)), 0),
        func.coalesce(func.sum(case((m.c.ack_code.in_(("AE", "AR")), 1), else_=0)), 0),
        func.coalesce(func.sum(case((m.c.ack_code.is_not(None), 1), else_=0)), 0),
    ).where(m.c.channel == name, m.c.facility_id == facility,
            m.c.received_at >= since)).one()
    snap = conn.execute(select(s.c.queued, s.c.oldest_queued_at, s.c.observed_at).where(
        s.c.channel == name, s.c.facility_id == facility)
        .order_by(s.c.observed_at.desc()).limit(1)).first()
    return ChannelObservation(
        channel=name, facility_id=facility, message_type=latest.message_type if latest else "",
        messages=int(counts[0]), errored=int(counts[1]), nacks=int(counts[2]),
        acked=int(counts[3]), newest_received_at=latest.received_at if latest else None,
        queued=int(snap.queued) if snap else None,
        oldest_queued_at=snap.oldest_queued_at if snap else None,
        snapshot_at=snap.observed_at if snap else None)


def _newest(conn: Connection, table: Table, column: str, facility: str, **where: Any) -> Any:
    query = select(func.max(table.c[column])).where(table.c.facility_id == facility)
    for col, value in where.items():
        query = query.where(table.c[col] == value)
    return conn.execute(query).scalar()


def _record_lags(conn: Connection, facility: str) -> tuple[float, ...]:
    """Seconds from scan to EHR record of the facility's newest ``RECORD_LAG_SCANS`` scans
    that carry a record time (an index range on (facility, used_at), newest first)."""
    u = usage_events
    rows = conn.execute(select(u.c.used_at, u.c.recorded_at).where(
        u.c.facility_id == facility, u.c.recorded_at.is_not(None))
        .order_by(u.c.used_at.desc()).limit(RECORD_LAG_SCANS)).all()
    return tuple((recorded - used).total_seconds() for used, recorded in rows)


def observe(conn: Connection, settings: Settings, now: datetime,
            th: Thresholds) -> Observations:
    """Everything ``build_graph`` needs, read with indexed look-ups only (the
    replenishment table, one row per requisition, is the one scanned)."""
    since = now - th.window
    configured = [s.name for s in settings.sources]
    names = list(dict.fromkeys([*configured, *distinct_values(conn, collector_runs, "source")]))
    recent = now - timedelta(days=SEEN_SOURCES_DAYS)
    sources = {}
    for name in names:
        obs = _source(conn, name, now, since)
        if name in configured or (obs.last_run_at is not None and obs.last_run_at >= recent):
            sources[name] = obs
    names = sorted(set(distinct_values(conn, interface_messages, "channel"))
                   | set(distinct_values(conn, channel_stats, "channel")))
    channels = {channel_key(f, n): _channel(conn, n, f, since) for n in names
                for f in sorted(_facilities_of(conn, n, recent))}
    facility_ids = sorted(set(conn.execute(select(facilities.c.facility_id)).scalars())
                          | {c.facility_id for c in channels.values() if c.facility_id})
    flows = {f: FacilityFlow(
        f, newest_usage_at=_newest(conn, usage_events, "used_at", f),
        newest_issue_at=_newest(conn, inventory_transactions, "posted_at", f),
        newest_charge_at=_newest(conn, charges, "posted_at", f),
        record_lags=_record_lags(conn, f)) for f in facility_ids}
    r = replenishment_documents
    req, order = conn.execute(select(func.max(r.c.created_at), func.max(r.c.ordered_at))).one()
    return Observations(
        sources=sources, channels=channels, facilities=flows, newest_requisition_at=req,
        newest_order_at=order)


def system_graph(engine: Engine, settings: Settings, now: datetime | None = None,
                 thresholds: Thresholds | None = None) -> LineageGraph:
    """The estate's system graph with live health per edge, read from the store."""
    now = now or datetime.now(UTC)
    th = thresholds or Thresholds(sla=settings.sla)
    with engine.connect() as conn:
        obs = observe(conn, settings, now, th)
    return build_graph(settings.sources, obs, now, th, settings.lineage.channel_targets)


def run_facts(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """A collector run's row, the rows it wrote per table and its calls per endpoint."""
    r, a, q = collector_runs, api_calls, quarantined_records
    with engine.connect() as conn:
        row = conn.execute(select(r).where(r.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        run = dict(row)
        since, until = run["started_at"], run["finished_at"] or datetime.now(UTC)
        written = {}
        for table in FACT_TABLES.values():
            n = conn.execute(select(func.count()).select_from(table).where(
                table.c.ingested_at >= since, table.c.ingested_at <= until,
                table.c.source == run["source"])).scalar_one()
            if n:
                written[table.name] = n
        quarantined = conn.execute(select(func.count()).select_from(q).where(
            q.c.source == run["source"], q.c.quarantined_at >= since,
            q.c.quarantined_at <= until)).scalar_one()
        if quarantined:
            written["quarantined_records"] = quarantined
        failed = (a.c.status_code >= 400) | a.c.status_code.is_(None) | (a.c.error_class != "")
        calls = conn.execute(select(
            a.c.endpoint, func.coalesce(func.sum(a.c.rows), 0), func.count(),
            func.coalesce(func.sum(case((failed, 1), else_=0)), 0),
        ).where(a.c.run_id == run_id).group_by(a.c.endpoint).order_by(a.c.endpoint)).all()
    run["written_by_table"] = written
    run["inputs"] = [{"endpoint": e, "rows": int(rows), "calls": int(n), "failed": int(f)}
                     for e, rows, n, f in calls]
    return run


def live_lineage(engine: Engine, settings: Settings, now: datetime) -> dict[str, list[str]]:
    """The estate's live lineage map (``lineage_map`` of ``system_graph``), for alerting's
    inhibition along it."""
    return lineage_map(system_graph(engine, settings, now))
