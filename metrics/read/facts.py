"""Metrics read from the usage facts: hop latency percentiles and within-SLA shares.

Percentiles are exact *nearest rank* over the usage events of the window (by usage
time): the smallest latency with at least ``p`` percent of the events at or below it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from core.metric_values import MetricValue
from metrics.catalog import HOPS
from metrics.read.common import Read, nearest_rank, pct, scope_columns, scope_of, value
from store.schema_metrics import metric_usage_facts

FACT_SCOPE = {"facility": "facility_id", "location": "location_id",
              "item_class": "item_class", "channel": "channel"}
DAY_S = 86_400.0
HOP_FEEDS = {"received": ("usage_event", "interface_message"),
             "sent": ("usage_event", "interface_message"),
             "charge": ("usage_event", "charge"),
             "inventory": ("usage_event", "inventory_transaction")}


def _window_filter(read: Read) -> ColumnElement[bool]:
    f = metric_usage_facts
    facilities = sorted({fac for feed, fac in read.health.feeds if feed == "usage_event"})
    cond = [f.c.used_at >= read.start, f.c.used_at < read.now]
    if facilities:  # lets the (facility, used_at) index serve network-wide reads
        cond.append(f.c.facility_id.in_(facilities))
    return and_(*cond)


def percentile(conn: Connection, read: Read, hop: str, p: float, *, implants: bool = False
               ) -> list[MetricValue]:
    """Nearest-rank ``p`` (0..1) of minutes from usage to ``hop`` per scope."""
    f = metric_usage_facts
    seconds = f.c[f"{hop}_s"]
    scope = scope_columns(read, f, FACT_SCOPE)
    cond = [_window_filter(read), seconds.is_not(None)]
    if implants:
        cond.append(f.c.item_class == "IMPLANT")
    base = select(*scope, (seconds / 60.0).label("v")).where(*cond).subquery("base")
    rows = nearest_rank(conn, read, base, p)
    n = len(read.scope_keys)
    return [value(read, scope_of(read, r), r[n], denominator=r[n + 1], feeds=HOP_FEEDS[hop])
            for r in rows]


def p90_charge_lag(conn: Connection, read: Read) -> list[MetricValue]:
    """Nearest-rank p90 of days from usage to first charge posted (charge lag)."""
    minutes = percentile(conn, read, "charge", 0.9)
    return [replace(v, value=None if v.value is None else v.value * 60.0 / DAY_S)
            for v in minutes]


def within_sla(conn: Connection, read: Read) -> list[MetricValue]:
    """Share of issued usage events whose issue posted within the inventory SLA."""
    f = metric_usage_facts
    scope = scope_columns(read, f, FACT_SCOPE)
    limit = 60.0 * read.sla.inventory_issue_minutes
    rows = conn.execute(select(
        *scope, func.sum(case((f.c.inventory_s <= limit, 1.0), else_=0.0)), func.count(),
    ).where(_window_filter(read), f.c.inventory_s.is_not(None)).group_by(*scope)).all()
    n = len(scope)
    return [value(read, scope_of(read, r), pct(float(r[n]), float(r[n + 1])),
                  numerator=r[n], denominator=r[n + 1], feeds=HOP_FEEDS["inventory"])
            for r in rows]


def _latency_reader(hop: str, p: float, implants: bool = False
                    ) -> Callable[[Connection, Read], list[MetricValue]]:
    def read_latency(conn: Connection, read: Read) -> list[MetricValue]:
        return percentile(conn, read, hop, p, implants=implants)
    return read_latency


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    **{f"{hop}_latency_p{p}_minutes": _latency_reader(hop, p / 100.0)
       for hop in HOPS for p in (50, 95, 99)},
    "implant_charge_latency_p95_minutes": _latency_reader("charge", 0.95, implants=True),
    "stock_posting_delay_p95_minutes": _latency_reader("inventory", 0.95),
    "inventory_within_sla_pct": within_sla,
    "charge_lag_days_p90": p90_charge_lag,
}
