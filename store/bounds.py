"""Every value a collector stores, checked against the column that will hold it (pure).

SQLite stores a 48-character facility in a ``VARCHAR(32)`` column without a word;
PostgreSQL refuses the whole statement (``StringDataRightTruncation``), and with it the
page's transaction, so one over-long value in a log stopped every later read of that log.
The same goes for NUL characters (PostgreSQL text cannot hold one), strings that are not
UTF-8 (a lone surrogate from JSON ``"\\ud800"``), numbers beyond a ``NUMERIC(14, 2)`` and
integers beyond 64 bits. So each record is checked here, before it is written, against
the limits read from ``store.schema`` itself (one place says how wide a column is), and a
record that does not fit is a ``RecordError`` naming the field, its size and the bound:
the collector quarantines that record alone. Reasons never quote the value (it may be
PHI); they give its length.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import cache
from operator import gt, itemgetter
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, Numeric, String, Table

from core.errors import RecordError
from core.model import CanonicalRecord, InterfaceMessage
from store.schema import FACT_TABLES, message_usages

INT32 = 2**31
INT64 = 2**63

# (field, "text" | "number" | "integer", bound): a text's length in characters (0: none),
# a number's exclusive magnitude once rounded to its scale, an integer's magnitude
Plan = tuple[tuple[str, str, Any, int], ...]
R = TypeVar("R", bound=CanonicalRecord)


def _column_rule(column: Any) -> tuple[str, Any, int] | None:
    kind = column.type
    if isinstance(kind, String):  # Text is a String without a length
        return "text", kind.length or 0, 0
    if isinstance(kind, Numeric) and kind.precision is not None:
        scale = kind.scale or 0
        return "number", Decimal(10) ** (kind.precision - scale), scale
    if isinstance(kind, BigInteger):
        return "integer", INT64, 0
    if isinstance(kind, Integer):
        return "integer", INT32, 0
    return None


def table_plan(table: Table, fields: Iterable[str]) -> Plan:
    """The checks of ``fields`` against the columns of ``table`` of the same name."""
    plan = []
    for name in fields:
        if name in table.c:
            rule = _column_rule(table.c[name])
            if rule is not None:
                plan.append((name, *rule))
    return tuple(plan)


@cache
def _record_plan(record_type: type[CanonicalRecord]) -> Plan:
    return table_plan(FACT_TABLES[record_type.kind], record_type.model_fields)


def text_problem(value: str, limit: int) -> str:
    """Why ``value`` cannot be stored in a text column of ``limit`` characters (0: no
    limit), or ''."""
    if limit and len(value) > limit:
        return f"{len(value)} characters, longer than the store's {limit}"
    if "\x00" in value:
        return "contains a NUL character, which the store cannot hold"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"not valid Unicode (character {exc.start + 1} is a lone surrogate)"
    return ""


def _number_problem(value: Any, bound: Decimal, scale: int) -> str:
    try:
        number = value if type(value) is Decimal else Decimal(str(value))
        if not number.is_finite():
            return "not a finite number"
        if abs(round(number, scale)) >= bound:
            return f"{abs(number).adjusted() + 1} digits before the point, more than the store's " \
                   f"{len(str(bound)) - 1}"
    except (InvalidOperation, ValueError):
        return "not a number the store can hold"
    return ""


def value_problems(values: dict[str, Any] | Any, plan: Plan) -> list[str]:
    """``field: problem`` for each value of ``values`` (a dict or an object with the
    fields as attributes) that its column cannot hold."""
    get = values.get if isinstance(values, dict) else (lambda n: getattr(values, n, None))
    problems = []
    for name, kind, bound, scale in plan:
        value = get(name)
        if value is None:
            continue
        if kind == "text":
            problem = text_problem(value, bound) if isinstance(value, str) else ""
        elif kind == "number":
            problem = _number_problem(value, bound, scale) if not isinstance(value, bool) else ""
        else:
            problem = (f"an integer beyond the store's {bound.bit_length()}-bit range"
                       if isinstance(value, int) and not -bound <= value < bound else "")
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


_USAGE_ID_LIMIT = message_usages.c.usage_id.type.length
_NONE_AS_EMPTY: dict[Any, str] = {None: ""}


@cache
def _quick_plan(record_type: type[CanonicalRecord]
                ) -> tuple[Callable[[Any], Any], tuple[int, ...], Plan]:
    """The record plan for ``_fits``: one getter of every text field, their limits
    (no limit: ``sys.maxsize``), and the other checks."""
    plan = _record_plan(record_type)
    texts = [(name, bound) for name, kind, bound, _scale in plan if kind == "text"]
    getter = itemgetter(*(name for name, _ in texts)) if len(texts) > 1 else (
        (lambda d, name=texts[0][0]: (d[name],)) if texts else (lambda d: ()))
    return getter, tuple(bound or sys.maxsize for _, bound in texts), tuple(
        rule for rule in plan if rule[1] != "text")


def _fits(record: CanonicalRecord) -> bool:
    """A quick proof that ``value_problems`` finds nothing in a record: every text value a
    string within its limit, all of them together ASCII without NUL, each number a finite
    Decimal at least one unit short of its bound (rounding moves it by less), each integer
    in range. False means "not proven": ``value_problems`` then says what, if anything."""
    getter, limits, others = _quick_plan(type(record))
    values = record.__dict__
    try:
        texts = getter(values)
        texts = list(map(_NONE_AS_EMPTY.get, texts, texts))
        if any(map(gt, map(len, texts), limits)):
            return False
        joined = "".join(texts)
    except TypeError:  # a value that is not a string (or not hashable): the long way
        return False
    if "\x00" in joined or not joined.isascii():
        return False
    for name, kind, bound, _scale in others:
        value = values[name]
        if value is None or type(value) is bool:
            continue
        if kind == "number":
            if not (type(value) is Decimal and value.is_finite() and abs(value) < bound - 1):
                return False
        elif type(value) is not int or not -bound <= value < bound:
            return False
    return True


def check_record(record: R, where: str = "") -> R:
    """``record`` itself when every value fits its column; else ``RecordError`` naming
    each field that does not, with what to do."""
    problems = [] if _fits(record) else value_problems(record, _record_plan(type(record)))
    if isinstance(record, InterfaceMessage):
        for number, usage_id in enumerate(record.usage_ids, 1):
            problem = text_problem(usage_id, _USAGE_ID_LIMIT or 0)
            if problem:
                problems.append(f"usage_ids[{number}] (FT1-2): {problem}")
    if problems:
        place = f" at {where}" if where else ""
        raise RecordError(f"{record.kind}{place} does not fit the store: "
                          f"{'; '.join(problems)} — check the source's field mapping "
                          "(a whole composite where one component was meant?)",
                          position=where)
    return record


def check_values(values: dict[str, Any], table: Table, what: str, where: str = "") -> None:
    """Raise ``RecordError`` unless each of ``values`` fits its column of ``table`` (for
    rows that are not canonical records: an ACK, a claim outcome)."""
    problems = value_problems(values, table_plan(table, tuple(values)))
    if problems:
        place = f" at {where}" if where else ""
        raise RecordError(f"{what}{place} does not fit the store: {'; '.join(problems)}",
                          position=where)


def clean_text(text: str) -> str:
    """Text any column holds: NUL written as ``\\x00``, lone surrogates escaped (for
    quarantine reasons and positions, which may quote what a source sent)."""
    text = text.replace("\x00", "\\x00")
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")
