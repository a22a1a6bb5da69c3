"""The sums behind the executive KPIs, read in SQL from the metric point tables (no
Streamlit here); what each KPI is and how it is computed from these sums is
``app.shaping.kpis``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from app.shaping.kpis import POINT_METRICS, SUM_COLUMNS, USAGE_SUMS
from store.schema_metrics import metric_points, metric_usage_points


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
