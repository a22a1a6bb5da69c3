"""Executive KPIs: their definitions (pure) and the sums behind them, read in SQL from the
metric point tables (no Streamlit here).

Every KPI is a ratio or a sum of summable columns, so one grouped query per table gives
the numbers for any window, facility or time bucket; the formula is applied afterwards.
The drill target of each KPI names the record set and status that make up the number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from store.schema_metrics import metric_points, metric_usage_points

FM_REASONS = ("unknown_item", "no_crosswalk", "cdm_without_hcpcs", "unit_not_convertible")
USAGE_SUMS = ("usages", "due", "on_time", "late", "missing", "missing_usd", "unmapped",
              "inv_due", "inv_accurate", "inv_missing", "qty_mismatch", "supply_cost_usd",
              "billed_usd", *(f"fm_{r}_usd" for r in FM_REASONS), *(f"fm_{r}" for r in FM_REASONS))
# metric_points rows as (num, den, amount), named for the sums they feed.
POINT_METRICS = {"duplicates": ("dup_groups", "dup_units", "dup_usd"),
                 "replenishment": ("repl_hours", "repl_docs", "_repl_amount"),
                 "messages": ("messages", "acked", "nacks")}
SUM_COLUMNS = (*USAGE_SUMS, *(c for cols in POINT_METRICS.values() for c in cols))


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if not den else scale * num / den


def _fm_usd(s: Mapping[str, float]) -> float:
    return sum(s.get(f"fm_{r}_usd", 0.0) for r in FM_REASONS)


@dataclass(frozen=True)
class Kpi:
    """One executive number: how to compute it from sums, and where its records are."""

    key: str
    label: str
    unit: str  # "%", "$", "h" or "#" (a count)
    good_high: bool
    formula: Callable[[Mapping[str, float]], float | None]
    dataset: str  # drill-down dataset behind the number
    status: str = ""  # drill-down status preset
    help: str = ""

    def value(self, sums: Mapping[str, float]) -> float | None:
        """The KPI from a row of sums (``None`` when its denominator is empty)."""
        return self.formula(sums)

    def format(self, value: float | None) -> str:
        """The KPI as shown on a card: ``97.2 %``, ``$12,450``, ``31.5 h``."""
        if value is None:
            return "–"
        if self.unit == "%":
            return f"{value:.1f} %"
        if self.unit == "$":
            return f"${value:,.0f}"
        if self.unit == "#":
            return f"{value:,.0f}"
        return f"{value:,.1f} h"


KPIS: tuple[Kpi, ...] = (
    Kpi("capture", "Charge capture", "%", True,
        lambda s: _ratio(s.get("on_time", 0.0), s.get("due", 0.0), 100.0), "capture",
        help="Chargeable usage events charged within the SLA, over those that are due."),
    Kpi("at_risk", "Revenue at risk", "$", False,
        lambda s: s.get("missing_usd", 0.0) + _fm_usd(s), "at_risk",
        help="Missing charges at CDM price plus the $ of failed mappings."),
    Kpi("duplicates", "Duplicate charges", "$", False, lambda s: s.get("dup_usd", 0.0),
        "duplicates", help="Overcharged $: the amount of charges that repeat an earlier one."),
    Kpi("failed_mapping", "Failed mappings", "$", False, _fm_usd, "mappings",
        help="$ at risk of usage whose item, crosswalk, CDM or unit does not map."),
    Kpi("inventory", "Inventory accuracy", "%", True,
        lambda s: _ratio(s.get("inv_accurate", 0.0), s.get("inv_due", 0.0), 100.0),
        "inventory", help="Due usage events whose inventory issue matches in quantity."),
    Kpi("replenishment", "Replenishment cycle", "h", False,
        lambda s: _ratio(s.get("repl_hours", 0.0), s.get("repl_docs", 0.0)), "replenishment",
        help="Mean hours from requisition created to received."),
    Kpi("margin", "Margin", "$", True,
        lambda s: s.get("billed_usd", 0.0) - s.get("supply_cost_usd", 0.0), "procedures",
        help="Billed minus supply cost at contract price."),
    Kpi("volume", "Usage events", "#", True, lambda s: s.get("usages", 0.0), "usage",
        help="Scans of supplies and implants recorded in the EHR or device tracking."),
)
KPI_BY_KEY = {k.key: k for k in KPIS}


def _usage_sums(conn: Connection, start: datetime, end: datetime, grain: str,
                by_bucket: bool) -> list[dict[str, Any]]:
    p = metric_usage_points
    dims: list[ColumnElement[Any]] = [p.c.facility_id] + ([p.c.bucket] if by_bucket else [])
    rows = conn.execute(
        select(*dims, *(func.sum(p.c[c]).label(c) for c in USAGE_SUMS))
        .where(p.c.grain == grain, p.c.bucket >= start, p.c.bucket < end)
        .group_by(*dims)
    ).mappings()
    return [dict(r) for r in rows]


def _point_sums(conn: Connection, start: datetime, end: datetime, grain: str,
                by_bucket: bool) -> list[dict[str, Any]]:
    p = metric_points
    dims: list[ColumnElement[Any]] = [p.c.metric, p.c.facility_id] + (
        [p.c.bucket] if by_bucket else [])
    rows = conn.execute(
        select(*dims, func.sum(p.c.num), func.sum(p.c.den), func.sum(p.c.amount))
        .where(p.c.metric.in_(list(POINT_METRICS)), p.c.grain == grain, p.c.bucket >= start,
               p.c.bucket < end)
        .group_by(*dims)
    )
    out = []
    for row in rows:
        names = POINT_METRICS[row[0]]
        values = row[-3:]
        out.append({"facility_id": row[1], **({"bucket": row[2]} if by_bucket else {}),
                    **{n: float(v or 0.0) for n, v in zip(names, values, strict=True)}})
    return out


def kpi_sums(conn: Connection, start: datetime, end: datetime, *, grain: str = "hour",
             by_bucket: bool = False) -> list[dict[str, Any]]:
    """Rows of summed KPI inputs per facility (and per bucket) over ``[start, end)``."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in (_usage_sums(conn, start, end, grain, by_bucket)
                + _point_sums(conn, start, end, grain, by_bucket)):
        key = (row["facility_id"], row.get("bucket"))
        target = merged.setdefault(key, {"facility_id": row["facility_id"], **(
            {"bucket": row["bucket"]} if by_bucket else {})})
        for name, value in row.items():
            if name not in ("facility_id", "bucket"):
                target[name] = target.get(name, 0.0) + float(value or 0.0)
    return [{**{c: 0.0 for c in SUM_COLUMNS}, **r} for r in merged.values()
            if r["facility_id"]]


def margin_by_procedure(conn: Connection, start: datetime, end: datetime,
                        facilities: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Per procedure code: billed $, supply cost $ and margin $ in the window (from the
    ``margin`` points: num billed, den cost, amount margin)."""
    p = metric_points.c
    where = [p.metric == "margin", p.grain == "hour", p.bucket >= start, p.bucket < end,
             p.detail != ""]
    if facilities:
        where.append(p.facility_id.in_(facilities))
    rows = conn.execute(
        select(p.detail.label("procedure"), func.sum(p.num).label("billed_usd"),
               func.sum(p.den).label("supply_cost_usd"), func.sum(p.amount).label("margin_usd"))
        .where(*where).group_by(p.detail).order_by(p.detail)
    ).mappings()
    return [{k: (v if k == "procedure" else float(v or 0.0)) for k, v in r.items()}
            for r in rows]


def first_bucket(conn: Connection) -> datetime | None:
    """The oldest hour with usage counted (one index look-up): where the store's data
    starts, so a thin previous period can say since when there is data at all."""
    return conn.execute(select(func.min(metric_usage_points.c.bucket)).where(
        metric_usage_points.c.grain == "hour")).scalar_one_or_none()


def latest_bucket(conn: Connection) -> datetime | None:
    """The newest hour any KPI input was counted in (primary-key look-ups).

    Every KPI's points count, not only usage: a duplicate charge posts after its usage,
    so the hour of the newest extra may follow the newest usage's, and a window ending
    with the usage would leave it out of the card."""
    newest = [
        conn.execute(select(func.max(metric_usage_points.c.bucket)).where(
            metric_usage_points.c.grain == "hour")).scalar_one_or_none(),
        *(conn.execute(select(func.max(metric_points.c.bucket)).where(
            metric_points.c.metric == metric, metric_points.c.grain == "hour")
        ).scalar_one_or_none() for metric in POINT_METRICS),
    ]
    present = [n for n in newest if n is not None]
    return max(present) if present else None
