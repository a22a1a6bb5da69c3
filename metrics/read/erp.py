"""The ERP's booking lag: minutes from when the stock moved to when the ERP posted the
document, for inventory issues whose source sends both times (an ERP that records only a
posting time books as it moves: nothing to measure). Kept apart from the scan-to-issue
latency (``stock_posting_delay_p95_minutes``), which is timed by the movement so that a
slow booking never reads as a slow issue, and read straight from the canonical table:
nearest-rank p95 over the issues posted in the window.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, select

from core.metric_values import MetricValue
from metrics.read.common import Read, nearest_rank, scope_columns, scope_of, value
from store.schema import inventory_transactions
from store.sqlfn import seconds_between

ERP_SCOPE = {"facility": "facility_id", "location": "location_id"}
ERP_FEEDS = ("inventory_transaction",)


def booking_lag(conn: Connection, read: Read, p: float = 0.95) -> list[MetricValue]:
    """Nearest-rank ``p`` of minutes from ``moved_at`` to ``posted_at`` per scope."""
    t = inventory_transactions
    scope = scope_columns(read, t, ERP_SCOPE)
    minutes = (seconds_between(t.c.posted_at, t.c.moved_at) / 60.0).label("v")
    base = select(*scope, minutes).where(
        t.c.txn_type == "ISSUE", t.c.moved_at.is_not(None), t.c.posted_at >= read.start,
        t.c.posted_at < read.now).subquery("base")
    rows = nearest_rank(conn, read, base, p)
    n = len(read.scope_keys)
    return [value(read, scope_of(read, r), r[n], denominator=r[n + 1], feeds=ERP_FEEDS)
            for r in rows]


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "erp_booking_lag_p95_minutes": booking_lag,
}
