"""The records behind a number, in SQL: counted, and served one page at a time
(LIMIT/OFFSET, newest first) so no page ever loads a whole table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select

from app.data.datasets import DATASETS, Dataset, problem_only
from app.shaping.datasets import EXTRA_SUMS, MONEY_COLUMN, SECONDS_COLUMNS, shown_name
from app.shaping.drill import DrillFilters
from store.schema import facilities as facility_table
from store.schema_metrics import metric_usage_points

MAX_PAGE_SIZE = 500


def conditions(ds: Dataset, f: DrillFilters) -> list[ColumnElement[bool]]:
    """The WHERE clause of a drill-down, as a list of conditions."""
    conds: list[ColumnElement[bool]] = [ds.where]
    if f.facilities and ds.has("facility_id"):
        conds.append(ds.col("facility_id").in_(f.facilities))
    if f.since:
        conds.append(ds.time >= f.since)
    if f.until:
        conds.append(ds.time < f.until)
    if f.status and ds.status_column:
        conds.append(ds.col(ds.status_column) == f.status)
    if f.channel and ds.channel_column:
        conds.append(ds.col(ds.channel_column) == f.channel)
    if f.problems:
        conds.append(problem_only(ds))
    if f.search:
        # An exact id match on the record's key columns: indexed, never a LIKE scan.
        conds.append(or_(*(ds.col(name) == f.search for name in ds.key_columns)))
    return conds


def count_records(conn: Connection, f: DrillFilters) -> int:
    """How many records match the filters."""
    ds = DATASETS[f.dataset]
    stmt = select(func.count()).select_from(ds.source).where(*conditions(ds, f))
    return int(conn.execute(stmt).scalar_one())


def money_sums(conn: Connection, f: DrillFilters) -> dict[str, float]:
    """The $ columns of the matching records, summed in one query (its money column and
    what ``EXTRA_SUMS`` adds, e.g. the supply cost beside billed $); empty without one."""
    ds = DATASETS[f.dataset]
    column = MONEY_COLUMN.get(f.dataset)
    if column is None:
        return {}
    names = (column, *EXTRA_SUMS.get(f.dataset, ()))
    stmt = select(*(func.coalesce(func.sum(ds.col(n)), 0.0).label(n) for n in names)
                  ).select_from(ds.source).where(*conditions(ds, f))
    row = conn.execute(stmt).mappings().one()
    return {n: float(row[n]) for n in names}


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A record as the table shows it: seconds as minutes (rounded here, not in SQL:
    PostgreSQL has no ``round`` for double precision)."""
    return {shown_name(k): (round(v / 60.0, 1) if k in SECONDS_COLUMNS and v is not None else v)
            for k, v in row.items()}


def page_of_records(
    conn: Connection, f: DrillFilters, *, page: int, page_size: int
) -> list[dict[str, Any]]:
    """One page (1-based) of matching records, newest first."""
    ds = DATASETS[f.dataset]
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    key = [ds.col(name) for name in ds.key_columns[:1]]
    stmt = (
        select(*(ds.col(name).label(name) for name in ds.columns))
        .select_from(ds.source)
        .where(*conditions(ds, f))
        .order_by(ds.time.desc(), *key)
        .limit(size)
        .offset(max(0, page - 1) * size)
    )
    return [_shown(dict(r)) for r in conn.execute(stmt).mappings()]


def facilities(conn: Connection) -> list[str]:
    """Every facility id known to the store (master data, else seen in the metrics)."""
    ids = set(conn.execute(select(facility_table.c.facility_id)).scalars())
    if not ids:
        ids = set(conn.execute(select(metric_usage_points.c.facility_id).distinct()).scalars())
    return sorted(i for i in ids if i)


def facility_names(conn: Connection) -> dict[str, str]:
    """Facility id -> name, for labels."""
    return dict(conn.execute(select(facility_table.c.facility_id, facility_table.c.name)).all())


def csv_of_records(conn: Connection, f: DrillFilters, limit: int) -> str:
    """Every matching record up to ``limit`` as CSV text, fetched a page at a time."""
    ds = DATASETS[f.dataset]
    header = ",".join(shown_name(c) for c in ds.columns)
    lines = [header]
    page = 1
    while (page - 1) * MAX_PAGE_SIZE < limit:
        rows = page_of_records(conn, f, page=page, page_size=MAX_PAGE_SIZE)
        lines += [",".join(_csv_cell(v) for v in row.values()) for row in rows]
        if len(rows) < MAX_PAGE_SIZE:
            break
        page += 1
    return "\n".join(lines[: limit + 1]) + "\n"


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text
