"""``/metrics``: the store's figures in the Prometheus text exposition format, for
Grafana (``docs/grafana/chargeline.json``) and Alertmanager.

``chargeline collector`` serves it on ``metrics_host:metrics_port`` when the port is set
(``serve_metrics``). Each scrape reads the store in a few queries (cached
``cache_seconds``, so several scrapers cost one read), through the same
``StoreMetricReader`` the dashboard and the rules read, so a KPI here equals the one on
the Overview for the same window:

- **channels** (``facility``, ``channel``): messages stored (a counter), by status now,
  NACKed, queue depth and age; the engine's own counters (``engine_stats``, newest
  snapshot);
- **sources**: API calls, errors and 429s (counters, by ``endpoint``), p95 response
  time over the window, last run and last success times, up (its last run did not fail),
  quarantined records;
- **KPIs per facility** over the last ``metrics_window_hours``: charge capture %, revenue
  at risk $, duplicate $, failed-mapping $, missing charges and inventory issues, ...
  (a value with nothing to measure is left out, not 0);
- **alerts**: instances by ``state`` and ``level`` (warn/fail).

``chargeline_store_up`` is 0 (and nothing else is given) when the store cannot be read:
Prometheus still gets an answer, and the gap in every other series says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from core.config import Settings
from core.metric_values import ValueStatus
from core.model import MessageStatus
from metrics.catalog import CATALOG
from metrics.read.reader import StoreMetricReader
from store.schema import (
    api_calls,
    channel_stats,
    collector_runs,
    interface_messages,
    quarantined_records,
)
from store.schema_alerting import alert_instances

log = logging.getLogger("chargeline.metrics")
PREFIX = "chargeline_"

# catalog metric -> (exposed name, unit words for the help text); per facility
KPI_GAUGES: dict[str, str] = {
    "charge_capture_pct": "charge_capture_percent",
    "charge_within_sla_pct": "charge_within_sla_percent",
    "revenue_at_risk_usd": "revenue_at_risk_dollars",
    "revenue_leakage_usd": "revenue_leakage_dollars",
    "duplicate_charge_usd": "duplicate_charge_dollars",
    "duplicate_groups": "duplicate_groups",
    "failed_mapping_usd": "failed_mapping_dollars",
    "failed_mapping_count": "failed_mappings",
    "missing_charges": "missing_charges",
    "late_charges": "late_charges",
    "charge_lag_days_mean": "charge_lag_days",
    "pending_charges": "pending_charges",
    "missing_inventory_issues": "missing_inventory_issues",
    "inventory_accuracy_pct": "inventory_accuracy_percent",
    "replenishment_cycle_hours": "replenishment_cycle_hours",
    "open_exceptions": "open_exceptions",
}
# catalog metric -> exposed name; per (facility, channel), over the window
CHANNEL_GAUGES: dict[str, str] = {
    "queue_depth": "channel_queue_depth",
    "queue_age_minutes": "channel_queue_age_minutes",
    "nack_rate_pct": "channel_nack_rate_percent",
    "messages_held": "channel_messages_held",
}
STATUS_NAMES = {s.value: s.name.lower() for s in MessageStatus}
NACK_CODES = ("AE", "AR", "CE", "CR")


def metric_names() -> frozenset[str]:
    """Every metric family name ``/metrics`` may expose (the Grafana test checks the
    dashboard's queries against it); counters are scraped with ``_total``."""
    names = {PREFIX + n for n in (*KPI_GAUGES.values(), *CHANNEL_GAUGES.values())}
    names |= {PREFIX + n for n in (
        "store_up", "scrape_duration_seconds", "channel_messages_by_status",
        "channel_nacked_messages",
        "engine_channel_queued", "source_up", "source_last_run_timestamp_seconds",
        "source_last_success_timestamp_seconds", "api_p95_milliseconds", "alerts",
        "mllp_connections", "mllp_listening")}
    names |= {PREFIX + n + "_total" for n in COUNTERS}
    return frozenset(names)


COUNTERS = ("channel_messages", "engine_channel_received", "engine_channel_filtered",
            "engine_channel_sent", "engine_channel_errored", "api_calls", "api_errors",
            "api_throttled", "quarantined_records", "mllp_frames")


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


@dataclass(eq=False)  # a registry keeps its collectors in a dict
class StoreExposition(Collector):
    """A prometheus_client collector that reads the store at each scrape."""

    engine: Engine
    settings: Settings
    cache_seconds: float = 10.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _cached: tuple[float, list[Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.cache_seconds:
                self._cached = (time.monotonic(), self.read())
            families = self._cached[1]
        yield from families

    def read(self) -> list[Any]:
        """Every family, from one look at the store (``chargeline_store_up`` 0 when it
        cannot be read)."""
        started = time.monotonic()
        up = GaugeMetricFamily(PREFIX + "store_up", "1 when the store could be read for this "
                               "scrape, else 0 (and no other Chargeline series)")
        try:
            families = self._read_store(self.clock())
        except Exception:
            log.exception("/metrics: the store could not be read")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        took = GaugeMetricFamily(PREFIX + "scrape_duration_seconds",
                                 "seconds this read of the store took")
        took.add_metric([], round(time.monotonic() - started, 6))
        return [up, took, *families]

    def _read_store(self, now: datetime) -> list[Any]:
        window = timedelta(hours=self.settings.metrics_window_hours)
        reader = StoreMetricReader(self.engine, self.settings)
        with self.engine.connect() as conn:
            out = [*_channels(conn), *_sources(conn), *_alerts(conn)]
        out += _reader_families(reader, KPI_GAUGES, ("facility",), window, now,
                                self.settings.metrics_window_hours)
        out += _reader_families(reader, CHANNEL_GAUGES, ("facility", "channel"), window, now,
                                self.settings.metrics_window_hours)
        p95 = reader.values("api_p95_ms", window=window, scope_keys=("source", "endpoint"),
                            now=now)
        api = GaugeMetricFamily(PREFIX + "api_p95_milliseconds", "p95 (nearest rank) response "
                                f"time of API calls over the last "
                                f"{self.settings.metrics_window_hours} h",
                                labels=["source", "endpoint"])
        for v in p95:
            if v.value is not None:
                api.add_metric([v.scope["source"], v.scope["endpoint"]], v.value)
        return [*out, api]


def _reader_families(reader: StoreMetricReader, names: dict[str, str],
                     scope: tuple[str, ...], window: timedelta, now: datetime,
                     hours: int) -> list[Any]:
    values = reader.many(list(names), window=window, scope_keys=scope, now=now)
    out = []
    for metric, exposed in names.items():
        spec = CATALOG[metric]
        windowed = "" if metric == "open_exceptions" else f" (last {hours} h)"
        family = GaugeMetricFamily(PREFIX + exposed, f"{spec.description}{windowed} "
                                   f"[{spec.unit}; catalog metric {metric}]", labels=list(scope))
        for v in values[metric]:
            if v.value is None or v.status is ValueStatus.NODATA:
                continue
            if any(not v.scope.get(k) and k != "facility" for k in scope):
                continue
            family.add_metric([v.scope.get(k, "") for k in scope], v.value)
        out.append(family)
    return out


def _channels(conn: Connection) -> list[Any]:
    m = interface_messages
    total = CounterMetricFamily(PREFIX + "channel_messages", "messages of the channel "
                                "in the store (received by the engine)",
                                labels=["facility", "channel"])
    by_status = GaugeMetricFamily(PREFIX + "channel_messages_by_status", "messages of the "
                                  "channel by status now (queued until their ACK, sent on "
                                  "AA, errored on AE/AR)",
                                  labels=["facility", "channel", "status"])
    nacked = GaugeMetricFamily(PREFIX + "channel_nacked_messages", "messages whose ACK was "
                               "AE, AR, CE or CR", labels=["facility", "channel"])
    counts: dict[tuple[str, str], int] = {}
    nacks: dict[tuple[str, str], int] = {}
    rows = conn.execute(select(m.c.facility_id, m.c.channel, m.c.status, func.count(),
                               func.sum(case((m.c.ack_code.in_(NACK_CODES), 1), else_=0)))
                        .group_by(m.c.facility_id, m.c.channel, m.c.status)
                        .order_by(m.c.facility_id, m.c.channel, m.c.status)).all()
    for facility, channel, status, n, nack in rows:
        key = (facility or "", channel)
        counts[key] = counts.get(key, 0) + n
        nacks[key] = nacks.get(key, 0) + int(nack or 0)
        by_status.add_metric([*key, STATUS_NAMES.get(status, status)], n)
    for key, n in counts.items():
        total.add_metric(list(key), n)
        nacked.add_metric(list(key), nacks[key])
    return [total, by_status, nacked, *_engine_counters(conn)]


def _engine_counters(conn: Connection) -> list[Any]:
    s = channel_stats
    newest = select(s.c.facility_id, s.c.channel, func.max(s.c.observed_at).label("at")) \
        .group_by(s.c.facility_id, s.c.channel).subquery()
    rows = conn.execute(select(s.c.facility_id, s.c.channel, s.c.received, s.c.filtered,
                               s.c.sent, s.c.errored, s.c.queued).select_from(s.join(
                                   newest, and_(newest.c.facility_id == s.c.facility_id,
                                                newest.c.channel == s.c.channel,
                                                newest.c.at == s.c.observed_at)))
                        .order_by(s.c.facility_id, s.c.channel)).all()
    labels = ["facility", "channel"]
    families = {name: CounterMetricFamily(PREFIX + f"engine_channel_{name}", f"the engine's "
                                          f"own '{name}' counter at its newest statistics "
                                          "snapshot", labels=labels)
                for name in ("received", "filtered", "sent", "errored")}
    queued = GaugeMetricFamily(PREFIX + "engine_channel_queued", "messages queued in the "
                               "engine at its newest statistics snapshot", labels=labels)
    for facility, channel, received, filtered, sent, errored, depth in rows:
        key = [facility or "", channel]
        for name, number in (("received", received), ("filtered", filtered), ("sent", sent),
                             ("errored", errored)):
            families[name].add_metric(key, number)
        queued.add_metric(key, depth)
    return [*families.values(), queued]


def _sources(conn: Connection) -> list[Any]:
    a = api_calls
    failed = or_(a.c.status_code >= 400, a.c.error_class != "", a.c.status_code.is_(None))
    labels = ["source", "endpoint"]
    calls = CounterMetricFamily(PREFIX + "api_calls", "API calls (every attempt)",
                                labels=labels)
    errors = CounterMetricFamily(PREFIX + "api_errors", "API calls that failed (status >= "
                                 "400 or a transport error)", labels=labels)
    throttled = CounterMetricFamily(PREFIX + "api_throttled", "HTTP 429 answers",
                                    labels=labels)
    for source, endpoint, n, bad, slow in conn.execute(select(
            a.c.source, a.c.endpoint, func.count(), func.sum(case((failed, 1), else_=0)),
            func.sum(case((a.c.status_code == 429, 1), else_=0)))
            .group_by(a.c.source, a.c.endpoint).order_by(a.c.source, a.c.endpoint)):
        calls.add_metric([source, endpoint], n)
        errors.add_metric([source, endpoint], int(bad or 0))
        throttled.add_metric([source, endpoint], int(slow or 0))
    r = collector_runs
    success = r.c.status.in_(("ok", "nodata"))
    finished = r.c.status != "running"
    last_run = GaugeMetricFamily(PREFIX + "source_last_run_timestamp_seconds", "when the "
                                 "source's newest finished run ended (Unix time)",
                                 labels=["source"])
    last_ok = GaugeMetricFamily(PREFIX + "source_last_success_timestamp_seconds", "when "
                                "the source's newest successful run (ok or nodata) ended "
                                "(Unix time)", labels=["source"])
    up = GaugeMetricFamily(PREFIX + "source_up", "1 when the source's newest finished run "
                           "did not fail, 0 when it did", labels=["source"])
    newest = select(r.c.source, func.max(r.c.started_at).label("at")).where(finished) \
        .group_by(r.c.source).subquery()
    latest = dict(conn.execute(select(r.c.source, r.c.status).select_from(r.join(
        newest, and_(newest.c.source == r.c.source, newest.c.at == r.c.started_at)))).all())
    for source, ended, ok_at in conn.execute(select(
            r.c.source, func.max(case((finished, func.coalesce(r.c.finished_at,
                                                               r.c.started_at)))),
            func.max(case((success, func.coalesce(r.c.finished_at, r.c.started_at)))))
            .group_by(r.c.source).order_by(r.c.source)):
        if ended is not None:
            last_run.add_metric([source], _ts(ended))
            up.add_metric([source], 0 if latest.get(source) == "error" else 1)
        if ok_at is not None:
            last_ok.add_metric([source], _ts(ok_at))
    q = quarantined_records
    quarantined = CounterMetricFamily(PREFIX + "quarantined_records", "records quarantined "
                                      "(kept aside with their reason)", labels=["source"])
    for source, n in conn.execute(select(q.c.source, func.count()).group_by(q.c.source)
                                  .order_by(q.c.source)):
        quarantined.add_metric([source], n)
    return [calls, errors, throttled, last_run, last_ok, up, quarantined]


def _alerts(conn: Connection) -> list[Any]:
    a = alert_instances
    family = GaugeMetricFamily(PREFIX + "alerts", "alert instances by state (ok, pending, "
                               "firing, resolved, nodata, error) and level (warn, fail)",
                               labels=["state", "level"])
    for state, level, n in conn.execute(select(a.c.state, a.c.level, func.count())
                                        .group_by(a.c.state, a.c.level)
                                        .order_by(a.c.state, a.c.level)):
        family.add_metric([state, level or ""], n)
    return [family]


@dataclass
class MetricsServer:
    """The running ``/metrics`` endpoint."""

    server: WSGIServer
    thread: threading.Thread
    registry: CollectorRegistry
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def add(self, collector: Collector) -> None:
        """Expose another collector's families too (the MLLP listeners')."""
        self.registry.register(collector)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_metrics(settings: Settings, engine: Engine, *, port: int | None = None,
                  host: str | None = None, cache_seconds: float = 10.0,
                  clock: Callable[[], datetime] | None = None) -> MetricsServer:
    """Serve ``/metrics`` on ``host:port`` (default ``metrics_host:metrics_port``; port 0
    picks a free one) from a thread; ``close()`` stops it."""
    registry = CollectorRegistry(auto_describe=False)
    exposition = StoreExposition(engine, settings, cache_seconds)
    if clock is not None:
        exposition.clock = clock
    registry.register(exposition)
    bind = host or settings.metrics_host
    server, thread = start_http_server(port if port is not None else settings.metrics_port or 0,
                                       addr=bind, registry=registry)
    log.info("serving Prometheus metrics on %s:%d/metrics", bind, server.server_port)
    return MetricsServer(server, thread, registry, bind)
