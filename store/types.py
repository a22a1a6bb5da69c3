"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from copy import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator, TypeEngine

# PostgreSQL: the collation of every text column of the store (the baseline migration). Its text is
# ids and codes, joined, grouped and indexed by every metrics pass; "C" compares bytes,
# where a linguistic collation calls strcoll per comparison and sorts 2-3x slower.
PG_TEXT_COLLATION = "C"


def byte_ordered(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """``type_`` as a PostgreSQL table of the store declares it: text with the ``"C"``
    collation (any other type as it is). Tables created at run time use it so that they
    join the store's columns under one collation (a mix would keep PostgreSQL from using
    the store's indexes)."""
    if isinstance(type_, String) and type_.collation is None:
        collated = copy(type_)
        collated.collation = PG_TEXT_COLLATION
        return collated
    return type_


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: one behaviour on both backends, and plain
    ``timestamp`` comparisons in SQL with no time-zone conversion in the way."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregate results (min/max) come back as text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)
