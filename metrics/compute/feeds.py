"""Where each facility's records come from, and how far each feed has caught up.

``metric_feed_sources`` maps (record kind, facility) to the collector sources that
delivered it, so a reader can tell "the billing source for FAC01 is failing" (ERROR)
from "FAC01 had nothing to charge" (NODATA). The *horizon* of a feed is the newest
posting it has delivered for a facility (never later than now).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Column, Connection, Table, delete, func, literal, select, true

from store.schema import (
    channel_stats,
    charges,
    interface_messages,
    inventory_transactions,
    remittances,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_feed_sources
from store.upsert import dialect_insert

FEEDS: dict[str, Table] = {
    "usage_event": usage_events,
    "charge": charges,
    "inventory_transaction": inventory_transactions,
    "interface_message": interface_messages,
    "replenishment_document": replenishment_documents,
    "channel_stats": channel_stats,
    # the denial metrics read remittances raw (metrics.read.denials): a failing 835 or
    # ExplanationOfBenefit source makes them ERROR, not a quiet month
    "remittance": remittances,
}


def update_feed_sources(conn: Connection, since: datetime | None) -> None:
    """Add the (feed, facility, source) triples of rows ingested since ``since`` (all
    rows, replacing the table, when ``since`` is None)."""
    fs = metric_feed_sources
    if since is None:
        conn.execute(delete(fs))
    for feed, table in FEEDS.items():
        # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
        q = select(literal(feed), table.c.facility_id, table.c.source).where(true()).distinct()
        if since is not None:
            q = q.where(table.c.ingested_at > since)
        stmt = dialect_insert(conn, fs).from_select(["feed", "facility_id", "source"], q)
        conn.execute(stmt.on_conflict_do_nothing())


def facilities_of(conn: Connection, feed: str) -> list[str]:
    fs = metric_feed_sources
    return list(conn.execute(select(fs.c.facility_id).where(fs.c.feed == feed).distinct())
                .scalars())


def horizons(conn: Connection, table: Table, column: Column, feed: str,
             now: datetime) -> dict[str, datetime]:
    """Per facility, the newest ``column`` the feed delivered, capped at ``now`` (one
    index seek per facility)."""
    out: dict[str, datetime] = {}
    for facility in facilities_of(conn, feed):
        newest = conn.execute(select(func.max(column)).where(
            table.c.facility_id == facility)).scalar()
        if newest is not None:
            out[facility] = min(newest, now)
    return out


def billing_horizons(conn: Connection, now: datetime) -> dict[str, datetime]:
    return horizons(conn, charges, charges.c.posted_at, "charge", now)


def erp_horizons(conn: Connection, now: datetime) -> dict[str, datetime]:
    return horizons(conn, inventory_transactions, inventory_transactions.c.posted_at,
                    "inventory_transaction", now)


def usage_period(conn: Connection) -> tuple[date, date] | None:
    """First and last date a usage in the store can have in its facility's zone: the UTC
    dates of the first and last scans, a day wider on each side (a local date is at most
    one day off the UTC date), by index seeks per facility."""
    lows, highs = [], []
    u = usage_events
    for facility in facilities_of(conn, "usage_event"):
        # min and max apart: SQLite answers each from the (facility, used_at) index alone
        lo = conn.execute(select(func.min(u.c.used_at)).where(u.c.facility_id == facility)
                          ).scalar()
        hi = conn.execute(select(func.max(u.c.used_at)).where(u.c.facility_id == facility)
                          ).scalar()
        if lo is not None:
            lows.append(lo)
            highs.append(hi)
    if not lows:
        return None
    day = timedelta(days=1)
    return min(lows).date() - day, max(highs).date() + day
