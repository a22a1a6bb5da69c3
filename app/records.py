"""The records behind a number, server-side paged (LIMIT/OFFSET), in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, or_, select

from app.datasets import DATASETS, Dataset
from app.drill import DrillFilters


def _conditions(ds: Dataset, f: DrillFilters) -> list[ColumnElement[bool]]:
    c = ds.table.c
    conds: list[ColumnElement[bool]] = [ds.where]
    if f.facilities:
        conds.append(c.facility_id.in_(f.facilities))
    if f.since:
        conds.append(ds.time >= f.since)
    if f.until:
        conds.append(ds.time < f.until)
    if f.status and ds.status_column:
        conds.append(c[ds.status_column] == f.status)
    if f.channel and ds.channel_column:
        conds.append(c[ds.channel_column] == f.channel)
    if f.search:
        # An exact id match on the record's key columns: indexed, never a LIKE scan.
        keys = [col for col in ds.table.primary_key.columns] + [
            c[name] for name in ("usage_id", "encounter_id", "control_id") if name in c
        ]
        conds.append(or_(*(col == f.search for col in keys)))
    return conds


def count_records(conn: Connection, f: DrillFilters) -> int:
    """How many records match the filters."""
    ds = DATASETS[f.dataset]
    stmt: Select = select(func.count()).select_from(ds.table).where(*_conditions(ds, f))
    return int(conn.execute(stmt).scalar_one())


def page_of_records(
    conn: Connection, f: DrillFilters, *, page: int, page_size: int
) -> list[dict[str, Any]]:
    """One page (1-based) of matching records, newest first."""
    ds = DATASETS[f.dataset]
    cols = [ds.table.c[name] for name in ds.columns]
    key = list(ds.table.primary_key.columns)
    stmt = (
        select(*cols)
        .where(*_conditions(ds, f))
        .order_by(ds.time.desc(), *key)
        .limit(page_size)
        .offset(max(0, page - 1) * page_size)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def facilities(conn: Connection) -> list[str]:
    """Every facility id known to the store (master data, or seen on usage)."""
    from store.schema import facilities as fac_table

    ids = set(conn.execute(select(fac_table.c.facility_id)).scalars())
    if not ids:
        ds = DATASETS["usage"]
        ids = set(conn.execute(select(ds.table.c.facility_id).distinct()).scalars())
    return sorted(ids)
