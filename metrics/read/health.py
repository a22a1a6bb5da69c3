"""Which collector sources are failing, and which sources feed a scope's numbers.

A source is *failing* when its newest finished collector run ended in ``error``. A metric
value whose records come from a failing source is reported with ``ValueStatus.ERROR``:
"the API failed" is a different state from "no data arrived" (PRODUCT.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, func, select

from store.schema import collector_runs
from store.schema_metrics import metric_feed_sources


@dataclass(frozen=True)
class SourceHealth:
    """Failing sources (with their error) and the sources behind each (feed, facility)."""

    failing: Mapping[str, str] = field(default_factory=dict)
    feeds: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def problem(self, feeds: Iterable[str], facility: str | None) -> str:
        """The error of a failing source behind ``feeds`` for ``facility`` (any facility
        when None), or "" when they are all healthy."""
        if not self.failing:
            return ""
        names = set(feeds)
        for (feed, fac), sources in sorted(self.feeds.items()):
            if feed in names and (facility is None or fac == facility):
                for source in sorted(sources):
                    if source in self.failing:
                        return f"source {source} is failing: {self.failing[source]}"
        return ""


def load_health(conn: Connection) -> SourceHealth:
    """The latest finished run of every source, and the feed map."""
    r = collector_runs
    latest = select(r.c.source, func.max(r.c.started_at).label("started_at")).where(
        r.c.status != "running").group_by(r.c.source).subquery()
    rows = conn.execute(select(r.c.source, r.c.status, r.c.error_class, r.c.error).select_from(
        r.join(latest, and_(latest.c.source == r.c.source,
                            latest.c.started_at == r.c.started_at)))).all()
    failing = {s: (f"{cls}: {err}" if cls else err)[:300] or "the last run failed"
               for s, status, cls, err in rows if status == "error"}
    feeds: dict[tuple[str, str], set[str]] = {}
    fs = metric_feed_sources
    for feed, facility, source in conn.execute(select(fs.c.feed, fs.c.facility_id, fs.c.source)):
        feeds.setdefault((feed, facility), set()).add(source)
    return SourceHealth(failing, {k: frozenset(v) for k, v in feeds.items()})
