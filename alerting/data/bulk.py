"""Writing many alert instances at once, at driver level.

A pass updates every instance whose value moved: 25,000 rows for 500 rules x 50 scopes.
Through SQLAlchemy's per-row parameter processing that alone costs most of the pass, so
the hot write goes to the driver directly, in each store's fastest shape: on PostgreSQL one
``UPDATE ... FROM json_to_recordset(document)`` statement (one round trip), on SQLite one prepared
``UPDATE`` run with ``executemany``. Times are stored the way ``store.types.UtcDateTime``
stores them (naive UTC; on SQLite SQLAlchemy's ``DATETIME`` text format), so the ORM-level
reads elsewhere see the same values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

TIME_COLUMNS = frozenset({"state_since", "evaluated_at", "pending_since", "firing_since",
                          "clear_since", "ack_at"})
_PG_TYPE = {"value": "float8", "amount": "float8", "threshold": "float8"}
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(_SQLITE_TIME)


def update_rows(conn: Connection, table: str, key: str, columns: Sequence[str],
                rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET columns WHERE key = row[key]`` for every row (key under ``key``)."""
    if not rows:
        return
    quoted = {c: f'"{c}"' for c in (key, *columns)}
    if conn.dialect.name == "postgresql":
        # One JSON document (encoded in C) instead of one array per column: psycopg dumps
        # text arrays element by element in Python.
        def pg_value(c: str, v: Any) -> Any:
            if c in TIME_COLUMNS:
                return None if v is None else _naive_utc(v).isoformat()  # type: ignore[union-attr]
            return None if isinstance(v, float) and not math.isfinite(v) else v

        names = (key, *columns)
        document = json.dumps([{c: pg_value(c, r[c]) for c in names} for r in rows])
        types = ", ".join(
            f"{quoted[c]} {'timestamp' if c in TIME_COLUMNS else _PG_TYPE.get(c, 'text')}"
            for c in names)
        sql = (f"UPDATE {table} AS t SET "
               + ", ".join(f"{quoted[c]} = u.{quoted[c]}" for c in columns)
               + f" FROM json_to_recordset(%(rows)s::json) AS u({types})"
               + f" WHERE t.{quoted[key]} = u.{quoted[key]}")
        conn.exec_driver_sql(sql, {"rows": document})
    elif conn.dialect.name == "sqlite":
        sql = (f"UPDATE {table} SET " + ", ".join(f"{quoted[c]} = ?" for c in columns)
               + f" WHERE {quoted[key]} = ?")
        params = [(*(_sqlite_time(r[c]) if c in TIME_COLUMNS else r[c] for c in columns),
                   r[key]) for r in rows]
        conn.exec_driver_sql(sql, params)
    else:
        raise NotImplementedError(f"bulk update is not implemented for {conn.dialect.name}")


def _read_time(dialect: str) -> Any:
    if dialect == "sqlite":  # SQLite hands back the stored text
        def parse(value: Any) -> datetime | None:
            if value is None:
                return None
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    else:
        def parse(value: Any) -> datetime | None:
            return None if value is None else value.replace(tzinfo=UTC)
    return parse


def select_rows(conn: Connection, table: str, columns: Sequence[str]) -> list[tuple]:
    """Every row of ``table`` as tuples of ``columns``; times as aware UTC datetimes."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = conn.exec_driver_sql(f"SELECT {quoted} FROM {table}").fetchall()
    times = [i for i, c in enumerate(columns) if c in TIME_COLUMNS]
    if not times:
        return [tuple(r) for r in rows]
    parse = _read_time(conn.dialect.name)
    out = []
    for row in rows:
        values = list(row)
        for i in times:
            values[i] = parse(values[i])
        out.append(tuple(values))
    return out
