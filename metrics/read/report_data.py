"""Gather the report's numbers through the store reader into one plain, stable dict.

The dict is the ``chargeline report --json`` document (fields in ``metrics/README.md``):
one block for the network and one per facility (or only ``--facility``), the interface
channels, the collector sources, the open exception queue and the revenue cycle (initial
denials from the remittances). Money is rounded to cents.
It also says where the store's data lies (``data_span``) and whether the window misses it
all (``empty_window``), so a window over no data reads as that, not as zeros.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from core.config import ChargeSla, Settings
from core.metric_values import MetricValue, ValueStatus
from metrics.catalog import FAILED_MAPPING_REASONS, HOPS
from metrics.read.common import Read
from metrics.read.data_span import data_span, suggested_window, window_has_data
from metrics.read.health import load_health
from metrics.read.points import usage_sums
from metrics.read.reader import StoreMetricReader
from metrics.read.report_revenue import revenue_cycle
from store.schema_metrics import metric_exceptions, metric_state

REPORT_VERSION = 2  # 2: a channel is keyed "<facility>/<channel>"
OPEN_STATUSES = ("open", "acknowledged", "investigating")
_SCOPE_METRICS = (
    "charge_within_sla_pct", "duplicate_groups", "inventory_accuracy_pct",
    "stock_posting_delay_p95_minutes", "replenishment_cycle_hours", "margin_usd",
    "charge_lag_days_mean", "charge_lag_days_p90",
    *(f"{hop}_latency_p{p}_minutes" for hop in HOPS for p in (50, 95, 99)),
)
_CHANNEL_METRICS = ("messages_received", "messages_errored", "nack_rate_pct", "queue_depth",
                    "queue_age_minutes")
_SOURCE_METRICS = ("minutes_since_success", "freshness_minutes", "api_p95_ms",
                   "api_error_rate_pct", "api_throttled")


def _num(v: MetricValue | None, *, money: bool = False) -> float | None:
    if v is None or v.value is None:
        return None
    return round(v.value, 2 if money else 4)


def _by_scope(values: list[MetricValue], key: str) -> dict[str, MetricValue]:
    return {v.scope.get(key, "*"): v for v in values}


def _problems(values: dict[str, dict[str, MetricValue]], scope: str) -> dict[str, str]:
    out = {}
    for metric, by in sorted(values.items()):
        v = by.get(scope)
        if v is not None and v.status is ValueStatus.ERROR:
            out[metric] = v.error
    return out


def _scope_block(sums: dict[str, float] | None, vals: dict[str, dict[str, MetricValue]],
                 margin: list[MetricValue], scope: str) -> dict[str, Any]:
    s = sums or {}

    def n(key: str) -> float:
        return round(s.get(key, 0.0), 2)

    def get(metric: str) -> MetricValue | None:
        return vals[metric].get(scope)

    due = s.get("due", 0.0)
    by_proc: dict[str, float] = {}
    for v in margin:  # the network sums each procedure over its facilities
        if scope == "*" or v.scope.get("facility") == scope:
            key = v.scope.get("procedure", "")
            by_proc[key] = round(by_proc.get(key, 0.0) + (v.value or 0.0), 2)
    dup = get("duplicate_groups")
    return {
        "usage_events": int(n("usages")),
        "charge_capture": {
            "capture_pct": round(100.0 * s["on_time"] / due, 4) if due else None,
            "due": int(due), "on_time": int(n("on_time")), "late": int(n("late")),
            "missing": int(n("missing")), "pending": int(n("pending")),
            "unmapped": int(n("unmapped")),
            "within_sla_pct": _num(get("charge_within_sla_pct")),
            "revenue_leakage_usd": n("missing_usd"), "late_usd": n("late_usd"),
            "billed_usd": n("billed_usd"),
            "late_usd_pct": (round(100.0 * s["late_usd"] / s["billed_usd"], 4)
                             if s.get("billed_usd") else None),
            "charge_lag_days": {"mean": _num(get("charge_lag_days_mean")),
                                "p90": _num(get("charge_lag_days_p90"))},
            "revenue_at_risk_usd": round(s.get("missing_usd", 0.0) + sum(
                s.get(f"fm_{r}_usd", 0.0) for r in FAILED_MAPPING_REASONS), 2),
        },
        "failed_mappings": {r: {"count": int(n(f"fm_{r}")), "usd": n(f"fm_{r}_usd")}
                            for r in FAILED_MAPPING_REASONS},
        "duplicates": {
            "groups": int(dup.detail.get("groups", 0)) if dup else 0,
            "extra_units": round(dup.detail.get("extra_units", 0), 4) if dup else 0,
            "overcharge_usd": round(dup.amount or 0.0, 2) if dup else 0.0,
        },
        "inventory": {
            "missing_issues": int(n("inv_missing")),
            "charged_not_issued": int(n("charged_not_issued")),
            "issued_not_charged": int(n("issued_not_charged")),
            "quantity_mismatches": int(n("qty_mismatch")),
            "accuracy_pct": _num(get("inventory_accuracy_pct")),
            "posting_delay_p95_minutes": _num(get("stock_posting_delay_p95_minutes")),
        },
        "latency_minutes": {hop: {f"p{p}": _num(get(f"{hop}_latency_p{p}_minutes"))
                                  for p in (50, 95, 99)} for hop in HOPS},
        "replenishment_cycle_hours": _num(get("replenishment_cycle_hours")),
        "margin_usd": {"total": round(sum(by_proc.values()), 2),
                       "by_procedure": dict(sorted(by_proc.items()))},
        "errors": _problems(vals, scope),
    }


def _exceptions(conn: Connection, facility: str) -> dict[str, Any]:
    e = metric_exceptions
    cond = [e.c.status.in_(OPEN_STATUSES)]
    if facility:
        cond.append(e.c.facility_id == facility)
    rows = conn.execute(select(e.c.kind, func.count(), func.sum(e.c.amount)).where(*cond)
                        .group_by(e.c.kind).order_by(e.c.kind)).all()
    return {kind: {"open": int(count), "usd": round(float(usd or 0.0), 2)}
            for kind, count, usd in rows}


def build_report(engine: Engine, sla: ChargeSla, *, since: datetime, until: datetime,
                 facility: str = "", settings: Settings | None = None) -> dict[str, Any]:
    """The report document for usage and feed activity in ``[since, until)``; with
    ``settings``, source freshness is counted beyond each source's expected cadence, as
    the rules read it."""
    reader = StoreMetricReader(engine, settings, sla=sla)
    window = until - since
    with engine.connect() as conn:
        health = load_health(conn)
        sums = {"*": dict(usage_sums(conn, Read("report", window, (), until, health=health,
                                                     sla=sla))[0][1])}
        for scope, s in usage_sums(conn, Read("report", window, ("facility",), until,
                                              health=health, sla=sla)):
            sums[scope["facility"]] = dict(s)
        exceptions = _exceptions(conn, facility)
        computed = conn.execute(select(metric_state.c.updated_at).where(
            metric_state.c.name == "ingested_watermark")).scalar_one_or_none()
        span = data_span(conn, facility)
        has_data = window_has_data(conn, since, until, facility)
    vals: dict[str, dict[str, MetricValue]] = {}
    for keys in ((), ("facility",)):
        for metric, values in reader.many(list(_SCOPE_METRICS), window=window,
                                          scope_keys=keys, now=until).items():
            vals.setdefault(metric, {}).update(_by_scope(values, "facility"))
    margin = reader.values("margin_usd", window=window, scope_keys=("facility", "procedure"),
                           now=until)
    channels = reader.many(list(_CHANNEL_METRICS), window=window,
                           scope_keys=("facility", "channel"), now=until)
    sources = reader.many(list(_SOURCE_METRICS), window=window, scope_keys=("source",),
                          now=until)
    facilities = sorted(f for f in sums if f != "*")
    if facility:
        facilities = [facility]
    return {
        "report": "chargeline-metrics",
        "version": REPORT_VERSION,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "facility": facility or None,
        "computed_at": computed.isoformat() if computed else None,
        "empty_window": not has_data,
        "data_span": {kind: {edge: t.isoformat() if t else None for edge, t in ends.items()}
                      for kind, ends in span.items()},
        "suggested_window": suggested_window(span),
        "network": None if facility else _scope_block(sums["*"], vals, margin, "*"),
        "facilities": {f: _scope_block(sums.get(f), vals, margin, f) for f in facilities},
        "channels": _channels(channels, facility),
        "sources": _sources(sources),
        "exceptions": exceptions,
        "revenue_cycle": revenue_cycle(reader, window=window, until=until,
                                       facility=facility),
    }


def channel_key(facility: str, channel: str) -> str:
    """A channel's key in the report: ``FAC01/DFT_OUT`` (``/DFT_OUT`` when its messages
    name no facility). Channel names repeat across facilities' engines; the pair does
    not."""
    return f"{facility}/{channel}"


def _channels(values: dict[str, list[MetricValue]], facility: str) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for metric, vs in values.items():
        for v in vs:
            fac, name = v.scope.get("facility", ""), v.scope["channel"]
            if facility and fac != facility:
                continue
            row = out.setdefault(channel_key(fac, name), {"facility": fac, "channel": name})
            row[metric] = _num(v)
            if metric == "minutes_since_success":
                row["never_succeeded"] = bool(v.detail.get("never_succeeded"))
            if v.status is ValueStatus.ERROR:
                row.setdefault("errors", {})[metric] = v.error
    return dict(sorted(out.items()))


def _sources(values: dict[str, list[MetricValue]]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for metric, vs in values.items():
        for v in vs:
            row = out.setdefault(v.scope["source"], {"status": "ok"})
            row[metric] = _num(v)
            if metric == "minutes_since_success":
                row["never_succeeded"] = bool(v.detail.get("never_succeeded"))
            if v.status is ValueStatus.ERROR:
                row["status"], row["error"] = "error", v.error
    return dict(sorted(out.items()))
