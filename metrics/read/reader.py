"""``StoreMetricReader``: the ``MetricReader`` over the store that rules, alerting, the
report and the dashboard read every catalog metric through.

Each ``values()`` call is one read transaction: points for counts and $ (cheap sums over
buckets), facts for percentiles, feed rows for API and interface health. A value is
``NODATA`` when there was nothing to measure and ``ERROR`` when a collector source behind
it is failing (its last run ended in error), so a source outage never reads as "fine".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from core.config import ChargeSla, Settings
from core.metric_values import MetricValue
from metrics.catalog import CATALOG, METRIC_NAMES, spec
from metrics.read import denial_causes as read_denial_causes
from metrics.read import denials as read_denials
from metrics.read import dnfb as read_dnfb
from metrics.read import erp as read_erp
from metrics.read import facts as read_facts
from metrics.read import feeds as read_feeds
from metrics.read import points as read_points
from metrics.read import pricing as read_pricing
from metrics.read import recall as read_recall
from metrics.read import reconciliation as read_reconciliation
from metrics.read import underpayment as read_underpayment
from metrics.read.common import Read, channel_identity
from metrics.read.health import load_health

_READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    **read_points.READERS, **read_facts.READERS, **read_feeds.READERS,
    **read_denials.READERS, **read_denial_causes.READERS, **read_dnfb.READERS,
    **read_erp.READERS, **read_recall.READERS, **read_pricing.READERS,
    **read_reconciliation.READERS,
    **read_underpayment.READERS,
}


def source_cadence(settings: Settings | None) -> dict[str, float]:
    """Per configured source, the minutes between its deliveries by nature (0 left out)."""
    if settings is None:
        return {}
    return {s.name: float(s.expected_every_minutes) for s in settings.sources
            if s.expected_every_minutes}


class StoreMetricReader:
    """Every metric of ``metrics.catalog`` read from the store behind ``engine``."""

    def __init__(self, engine: Engine, settings: Settings | None = None, *,
                 sla: ChargeSla | None = None) -> None:
        self.engine = engine
        self.sla = sla or (settings.sla if settings is not None else ChargeSla())
        self.cadence = source_cadence(settings)
        self.contracts = tuple(settings.payer_contracts) if settings is not None else ()

    def metric_names(self) -> frozenset[str]:
        """Every metric this reader can answer for (the rule loader checks against it)."""
        return METRIC_NAMES

    def values(self, metric: str, *, window: timedelta, scope_keys: tuple[str, ...],
               now: datetime, params: Mapping[str, str] | None = None) -> list[MetricValue]:
        """The metric over ``[now - window, now)`` for every scope of ``scope_keys``; a
        ``channel`` scope always carries its ``facility`` too (``channel_identity``)."""
        spec(metric)  # unknown names fail with the close ones listed
        with self.engine.connect() as conn:
            read = Read(metric, window, channel_identity(scope_keys), now,
                        dict(params or {}), load_health(conn), self.sla, self.cadence,
                        self.contracts)
            return _READERS[metric](conn, read)

    def many(self, metrics: list[str], *, window: timedelta, scope_keys: tuple[str, ...],
             now: datetime) -> dict[str, list[MetricValue]]:
        """Several metrics in one transaction (the report, the dashboard's KPI row)."""
        out: dict[str, list[MetricValue]] = {}
        with self.engine.connect() as conn:
            health = load_health(conn)
            for metric in metrics:
                spec(metric)
                scoped = channel_identity(
                    [k for k in scope_keys if k in CATALOG[metric].scopes])
                read = Read(metric, window, scoped, now, {}, health, self.sla, self.cadence,
                            self.contracts)
                out[metric] = _READERS[metric](conn, read)
        return out


def _check_complete() -> None:
    missing = METRIC_NAMES - set(_READERS)
    extra = set(_READERS) - METRIC_NAMES
    if missing or extra:
        raise RuntimeError(f"reader and catalog disagree: no reader for {sorted(missing)}, "
                           f"not in the catalog: {sorted(extra)}")


_check_complete()
