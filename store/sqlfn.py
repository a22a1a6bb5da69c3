"""Tiny SQL functions that SQLite and PostgreSQL spell differently, compiled per dialect.

Times are stored as naive UTC (``store.types.UtcDateTime``): on SQLite as ISO text
``YYYY-MM-DD HH:MM:SS.ffffff``, so bucket starts are rendered in that same shape to
compare equal with bound values.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Date, Float, Integer, Select, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from store.types import UtcDateTime


class seconds_between(FunctionElement[float]):
    """``later - earlier`` in seconds (float)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _sb_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _sb_pg(element: Any, compiler: Any, **kw: Any) -> str:
    # date_part, not EXTRACT: since PostgreSQL 14 EXTRACT computes in numeric, 2.5x the
    # cost. The interval of two timestamps is whole days plus under a day of microseconds,
    # each exact in a double, so the float sum can differ from the numeric result only in
    # its last bit, and never across a whole second (no SLA comparison can change).
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', {later} - {earlier})"


class hour_floor(FunctionElement[Any]):
    """The start of the hour a timestamp falls in."""

    type = UtcDateTime()
    inherit_cache = True
    name = "hour_floor"


# SQLite keeps a ``UtcDateTime`` as SQLAlchemy's fixed text 'YYYY-MM-DD HH:MM:SS.ffffff':
# the floors cut that text (the date, the hour) instead of parsing it with strftime, a
# third of the cost, and a full pass floors some 3M timestamps. Either separator is read.
@compiles(hour_floor, "sqlite")
def _hf_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"(substr({arg}, 1, 10) || ' ' || substr({arg}, 12, 2) || ':00:00.000000')"


@compiles(hour_floor, "postgresql")
def _hf_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_trunc('hour', {arg})"


class day_floor(FunctionElement[Any]):
    """The start of the UTC day a timestamp falls in."""

    type = UtcDateTime()
    inherit_cache = True
    name = "day_floor"


@compiles(day_floor, "sqlite")
def _df_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"(substr({arg}, 1, 10) || ' 00:00:00.000000')"


@compiles(day_floor, "postgresql")
def _df_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_trunc('day', {arg})"


class to_date(FunctionElement[Any]):
    """The UTC calendar date of a timestamp (comparable with a ``Date`` column)."""

    type = Date()
    inherit_cache = True
    name = "to_date"


@compiles(to_date, "sqlite")
def _td_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"date({arg})"


@compiles(to_date, "postgresql")
def _td_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({arg} AS DATE)"


class ceil_int(FunctionElement[int]):
    """The smallest integer >= x (SQLite builds may lack ``ceil``)."""

    type = Integer()
    inherit_cache = True
    name = "ceil_int"


@compiles(ceil_int, "sqlite")
def _ci_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({arg} AS INTEGER) + (({arg}) > CAST({arg} AS INTEGER)))"


@compiles(ceil_int, "postgresql")
def _ci_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(ceil({arg}) AS INTEGER)"


class add_days(FunctionElement[Any]):
    """A timestamp plus a (bound or literal) number of days."""

    type = UtcDateTime()
    inherit_cache = True
    name = "add_days"


@compiles(add_days, "sqlite")
def _ad_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    ts, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"strftime('%Y-%m-%d %H:%M:%f000', {ts}, ({days}) || ' days')"


@compiles(add_days, "postgresql")
def _ad_pg(element: Any, compiler: Any, **kw: Any) -> str:
    ts, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({ts} + make_interval(days => CAST({days} AS INTEGER)))"


class round_money(FunctionElement[float]):
    """A float rounded to cents (PostgreSQL has no ``round(double precision, int)``)."""

    type = Float()
    inherit_cache = True
    name = "round_money"


@compiles(round_money, "sqlite")
def _rm_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"round({arg}, 2)"


@compiles(round_money, "postgresql")
def _rm_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(round(CAST({arg} AS numeric), 2) AS double precision)"


class id_list(FunctionElement[str]):
    """Aggregate: the distinct values of a text column joined with commas, sorted."""

    type = Text()
    inherit_cache = True
    name = "id_list"


@compiles(id_list, "sqlite")
def _il_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"group_concat(DISTINCT {arg})"


@compiles(id_list, "postgresql")
def _il_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg(DISTINCT {arg}, ',' ORDER BY {arg})"


class add_seconds(FunctionElement[Any]):
    """A timestamp plus a number of seconds (a column or a bound value)."""

    type = UtcDateTime()
    inherit_cache = True
    name = "add_seconds"


@compiles(add_seconds, "sqlite")
def _as_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    ts, secs = (compiler.process(c, **kw) for c in element.clauses)
    # SQLite reads "-5.0 seconds" and "5.0 seconds"; "+-5.0" would be NULL.
    return f"strftime('%Y-%m-%d %H:%M:%f000', {ts}, ({secs}) || ' seconds')"


@compiles(add_seconds, "postgresql")
def _as_pg(element: Any, compiler: Any, **kw: Any) -> str:
    ts, secs = (compiler.process(c, **kw) for c in element.clauses)
    return f"({ts} + make_interval(secs => CAST({secs} AS double precision)))"


class in_rows(ColumnElement[bool]):
    """``column IN (subquery)``; on PostgreSQL ``column = ANY(ARRAY(subquery))``, which it
    answers with one probe of the column's index per value (the subquery runs once), where
    for ``IN`` it would often hash the whole indexed table to meet a few thousand keys.
    Only for indexed columns: without an index each row would search the array."""

    type = NullType()  # rendered as is, no "= 1" on SQLite
    inherit_cache = True
    _traverse_internals: ClassVar = [("column", InternalTraversal.dp_clauseelement),
                                     ("rows", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], rows: Select[Any]) -> None:
        self.column = column
        self.rows = rows


@compiles(in_rows)
def _ir_default(element: Any, compiler: Any, **kw: Any) -> str:
    column, rows = compiler.process(element.column, **kw), compiler.process(element.rows, **kw)
    return f"{column} IN ({rows})"


@compiles(in_rows, "postgresql")
def _ir_pg(element: Any, compiler: Any, **kw: Any) -> str:
    column, rows = compiler.process(element.column, **kw), compiler.process(element.rows, **kw)
    return f"{column} = ANY(ARRAY({rows}))"


class day_number(FunctionElement[float]):
    """SQLite: the Julian day of a timestamp (``julianday``), kept so that later
    ``seconds_after`` calls parse one timestamp text, not two. PostgreSQL subtracts
    timestamps directly and needs none: NULL."""

    type = Float()
    inherit_cache = True
    name = "day_number"


@compiles(day_number, "sqlite")
def _dn_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"julianday({arg})"


@compiles(day_number, "postgresql")
def _dn_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return "CAST(NULL AS double precision)"


class seconds_after(FunctionElement[float]):
    """``seconds_between(later, earlier)`` given also ``day_number(earlier)`` (the same
    float: SQLite's julianday of ``earlier`` is what the subtraction would compute)."""

    type = Float()
    inherit_cache = True
    name = "seconds_after"


@compiles(seconds_after, "sqlite")
def _sa_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    later, _earlier, earlier_day = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - {earlier_day}) * 86400.0)"


@compiles(seconds_after, "postgresql")
def _sa_pg(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier, _earlier_day = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', {later} - {earlier})"
