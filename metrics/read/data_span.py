"""Where the store's data lies in time, so a report over an empty window can say so.

A report of the last 7 days over a store that holds a January backfill would print
zeros everywhere; the reader would think nothing happened, when the window simply misses
the data. ``data_span`` gives the earliest and latest usage, message and charge times in
the store (one facility's, or all), ``window_has_data`` whether ``[since, until)`` holds
any of them, and ``suggested_window`` the whole days that cover the span, ready to paste
as ``--since``/``--until``. Read from the canonical tables: the store's data, whether or
not the metrics have been computed over it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, exists, func, select

from store.schema import charges, interface_messages, usage_events

# what a report window is about: each kind's time column (facility_id beside it)
SPAN_TIMES: dict[str, Column[Any]] = {
    "usage_events": usage_events.c.used_at,
    "messages": interface_messages.c.received_at,
    "charges": charges.c.posted_at,
}


def _facility_filter(column: Column[Any], facility: str) -> list[Any]:
    return [column.table.c.facility_id == facility] if facility else []


def data_span(conn: Connection, facility: str = "") -> dict[str, dict[str, datetime | None]]:
    """Per kind, the ``first`` and ``last`` time in the store (None when it has none)."""
    out = {}
    for kind, col in SPAN_TIMES.items():
        # min and max keep the column's type: aware UTC datetimes on both backends
        first, last = conn.execute(select(func.min(col), func.max(col))
                                   .where(*_facility_filter(col, facility))).one()
        out[kind] = {"first": first, "last": last}
    return out


def window_has_data(conn: Connection, since: datetime, until: datetime,
                    facility: str = "") -> bool:
    """Whether any usage, message or charge time falls in ``[since, until)``."""
    for col in SPAN_TIMES.values():
        found = conn.execute(select(exists().where(
            col >= since, col < until, *_facility_filter(col, facility)))).scalar()
        if found:
            return True
    return False


def suggested_window(span: dict[str, dict[str, datetime | None]]) -> dict[str, str] | None:
    """The whole UTC days from the first to the last time of any kind (``until`` is
    exclusive, so it is the day after the last), or None for an empty store."""
    firsts = [s["first"] for s in span.values() if s["first"] is not None]
    lasts = [s["last"] for s in span.values() if s["last"] is not None]
    if not firsts or not lasts:
        return None
    return {"since": min(firsts).date().isoformat(),
            "until": (max(lasts).date() + timedelta(days=1)).isoformat()}
