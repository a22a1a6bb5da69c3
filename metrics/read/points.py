"""Metrics read from the stored points: sums over the buckets of a window."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection, func, select

from core.metric_values import MetricValue
from metrics.catalog import FAILED_MAPPING_REASONS
from metrics.read.common import Read, bucket_window, pct, scope_columns, scope_of, value
from store.schema_metrics import USAGE_POINT_COLUMNS, metric_points, metric_usage_points

USAGE_SCOPE = {"facility": "facility_id", "location": "location_id",
               "item_class": "item_class"}
CHARGE_FEEDS = ("usage_event", "charge")
DAY_S = 86_400.0
STOCK_FEEDS = ("usage_event", "inventory_transaction")
MESSAGE_FEEDS = ("interface_message",)

Sums = Mapping[str, float]


def usage_sums(conn: Connection, read: Read) -> list[tuple[dict[str, str], Sums]]:
    """Per scope, every usage point column summed over the window."""
    p = metric_usage_points
    scope = scope_columns(read, p, USAGE_SCOPE)
    rows = conn.execute(select(*scope, *(func.sum(p.c[c]) for c in USAGE_POINT_COLUMNS))
                        .where(bucket_window(p, read.start, read.now)).group_by(*scope)).all()
    n = len(scope)
    return [(scope_of(read, r), dict(zip(USAGE_POINT_COLUMNS, (float(x or 0) for x in r[n:]),
                                         strict=True))) for r in rows]


def _reasons(read: Read) -> tuple[str, ...]:
    reason = read.param("reason")
    if not reason:
        return FAILED_MAPPING_REASONS
    if reason not in FAILED_MAPPING_REASONS:
        raise ValueError(f"reason {reason!r} unknown; use {', '.join(FAILED_MAPPING_REASONS)}")
    return (reason,)


def _usage_value(read: Read, scope: dict[str, str], s: Sums) -> MetricValue:
    """One usage-derived metric from its window sums (definitions in README)."""
    m = read.metric
    quiet = s["usages"] == 0
    if m == "charge_capture_pct":
        return value(read, scope, pct(s["on_time"], s["due"]), amount=s["missing_usd"],
                     numerator=s["on_time"], denominator=s["due"], feeds=CHARGE_FEEDS)
    if m == "charge_within_sla_pct":
        charged = s["on_time"] + s["late"]
        return value(read, scope, pct(s["on_time"], charged), numerator=s["on_time"],
                     denominator=charged, feeds=CHARGE_FEEDS)
    if m == "charge_lag_days_mean":
        lag = s["charge_s_sum"] / DAY_S / s["charged"] if s["charged"] else None
        return value(read, scope, lag, denominator=s["charged"], feeds=CHARGE_FEEDS,
                     nodata=not s["charged"])
    if m == "late_charges_usd_pct":
        return value(read, scope, pct(s["late_usd"], s["billed_usd"]), amount=s["late_usd"],
                     numerator=s["late_usd"], denominator=s["billed_usd"], feeds=CHARGE_FEEDS)
    if m == "inventory_accuracy_pct":
        return value(read, scope, pct(s["inv_accurate"], s["inv_due"]),
                     numerator=s["inv_accurate"], denominator=s["inv_due"], feeds=STOCK_FEEDS)
    if m in ("failed_mapping_count", "failed_mapping_usd"):
        reasons = _reasons(read)
        count = sum(s[f"fm_{r}"] for r in reasons)
        usd = sum(s[f"fm_{r}_usd"] for r in reasons)
        number = count if m == "failed_mapping_count" else usd
        return value(read, scope, number, amount=usd, denominator=s["usages"],
                     feeds=("usage_event",), nodata=quiet)
    fm_usd = sum(s[f"fm_{r}_usd"] for r in FAILED_MAPPING_REASONS)
    simple: dict[str, tuple[float, float | None, tuple[str, ...]]] = {
        "missing_charges": (s["missing"], s["missing_usd"], CHARGE_FEEDS),
        "late_charges": (s["late"], s["late_usd"], CHARGE_FEEDS),
        "revenue_leakage_usd": (s["missing_usd"], s["missing_usd"], CHARGE_FEEDS),
        "revenue_at_risk_usd": (s["missing_usd"] + fm_usd, s["missing_usd"] + fm_usd,
                                CHARGE_FEEDS),
        "pending_charges": (s["pending"], None, CHARGE_FEEDS),
        "missing_inventory_issues": (s["inv_missing"], None, STOCK_FEEDS),
        "charged_not_issued": (s["charged_not_issued"], None, STOCK_FEEDS),
        "issued_not_charged": (s["issued_not_charged"], None, STOCK_FEEDS),
        "quantity_mismatches": (s["qty_mismatch"], None, STOCK_FEEDS),
    }
    number, amount, feeds = simple[m]
    return value(read, scope, number, amount=amount, denominator=s["usages"], feeds=feeds,
                 nodata=quiet)


def read_usage_metric(conn: Connection, read: Read) -> list[MetricValue]:
    return [_usage_value(read, scope, sums) for scope, sums in usage_sums(conn, read)]


def _points(conn: Connection, read: Read, metric: str, mapping: Mapping[str, str]
            ) -> list[tuple[dict[str, str], float, float, float]]:
    p = metric_points
    scope = scope_columns(read, p, mapping)
    rows = conn.execute(select(*scope, func.sum(p.c.num), func.sum(p.c.den),
                               func.sum(p.c.amount)).where(
        p.c.metric == metric, bucket_window(p, read.start, read.now)).group_by(*scope)).all()
    n = len(scope)
    return [(scope_of(read, r), float(r[n] or 0), float(r[n + 1] or 0), float(r[n + 2] or 0))
            for r in rows]


def read_duplicates(conn: Connection, read: Read) -> list[MetricValue]:
    out = []
    for scope, groups, units, usd in _points(conn, read, "duplicates", USAGE_SCOPE):
        number = {"duplicate_groups": groups, "duplicate_extra_units": units,
                  "duplicate_charge_usd": usd}[read.metric]
        out.append(value(read, scope, number, amount=usd, feeds=("charge",),
                         extra={"groups": groups, "extra_units": units}))
    return out


def read_margin(conn: Connection, read: Read) -> list[MetricValue]:
    mapping = {"facility": "facility_id", "procedure": "detail"}
    return [value(read, scope, margin, amount=billed, feeds=CHARGE_FEEDS,
                  extra={"billed_usd": billed, "supply_cost_usd": cost})
            for scope, billed, cost, margin in _points(conn, read, "margin", mapping)]


def read_replenishment(conn: Connection, read: Read) -> list[MetricValue]:
    mapping = {"facility": "facility_id", "location": "location_id"}
    return [value(read, scope, hours / count if count else None, numerator=hours,
                  denominator=count, feeds=("replenishment_document",))
            for scope, hours, count, _ in _points(conn, read, "replenishment", mapping)]


CHANNEL_SCOPE = {"facility": "facility_id", "channel": "channel"}


def read_messages(conn: Connection, read: Read) -> list[MetricValue]:
    """Counts from the message logs: received, per status, held, NACK rate, hourly rate."""
    status = {"messages_errored": "E", "messages_filtered": "F", "messages_sent": "S"}
    if read.metric in status or read.metric == "messages_held":
        p = metric_points
        scope = scope_columns(read, p, CHANNEL_SCOPE)
        which = (p.c.metric == "msg_held",) if read.metric == "messages_held" else (
            p.c.metric == "msg_status", p.c.detail == status[read.metric])
        counts = {tuple(r[:-1]): float(r[-1] or 0) for r in conn.execute(
            select(*scope, func.sum(p.c.num)).where(
                *which, bucket_window(p, read.start, read.now)).group_by(*scope))}
    out = []
    hours = read.window.total_seconds() / 3600.0
    for scope, received, acked, nacked in _points(conn, read, "messages", CHANNEL_SCOPE):
        if read.metric == "messages_received":
            out.append(value(read, scope, received, feeds=MESSAGE_FEEDS))
        elif read.metric == "message_rate_per_hour":
            out.append(value(read, scope, received / hours if hours else None,
                             numerator=received, feeds=MESSAGE_FEEDS))
        elif read.metric == "nack_rate_pct":
            out.append(value(read, scope, pct(nacked, acked), numerator=nacked,
                             denominator=acked, feeds=MESSAGE_FEEDS))
        else:
            key = tuple(scope[k] for k in read.scope_keys)
            out.append(value(read, scope, counts.get(key, 0.0), numerator=received,
                             feeds=MESSAGE_FEEDS))
    return out


USAGE_POINT_METRICS = (
    "charge_capture_pct", "charge_within_sla_pct", "inventory_accuracy_pct",
    "failed_mapping_count", "failed_mapping_usd", "missing_charges", "late_charges",
    "revenue_leakage_usd", "revenue_at_risk_usd", "pending_charges",
    "missing_inventory_issues", "charged_not_issued", "issued_not_charged",
    "quantity_mismatches", "late_charges_usd_pct", "charge_lag_days_mean",
)
READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    **dict.fromkeys(USAGE_POINT_METRICS, read_usage_metric),
    **dict.fromkeys(("duplicate_groups", "duplicate_extra_units", "duplicate_charge_usd"),
                    read_duplicates),
    "margin_usd": read_margin,
    "replenishment_cycle_hours": read_replenishment,
    **dict.fromkeys(("messages_received", "messages_errored", "messages_filtered",
                     "messages_sent", "messages_held", "message_rate_per_hour",
                     "nack_rate_pct"), read_messages),
}
