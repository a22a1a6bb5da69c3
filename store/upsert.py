"""Idempotent writes on natural keys, the same on SQLite and PostgreSQL.

An upsert writes a row only when it is new or its content changed (``record_hash``), so
re-ingesting the same record changes nothing, not even ``ingested_at``.

Rows are written with one statement text per (table, columns), so both drivers reuse
its prepared form: on SQLite an ``INSERT ... ON CONFLICT`` run for every row
(``executemany``), on PostgreSQL one ``INSERT ... SELECT * FROM unnest(<one array per
column>) ON CONFLICT`` per batch. Values are converted per column as SQLAlchemy's own
column types would (UTC-aware times stored naive UTC, SQLite's time text), without
SQLAlchemy's per-row parameter processing, which cost more than the database work. A
table with a column type outside the plain ones falls back to SQLAlchemy's statement.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    select,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from core.model import CanonicalRecord, InterfaceMessage
from store.bounds import clean_text
from store.schema import FACT_TABLES, message_usages, quarantined_records, source_watermarks
from store.types import UtcDateTime


def dialect_insert(conn: Connection, table: Table) -> Insert:
    """The dialect's INSERT that supports ON CONFLICT (SQLAlchemy has no generic one)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for {conn.dialect.name}")


def record_hash(record: CanonicalRecord) -> str:
    """A digest of the record's content: its JSON with sorted keys, compact separators,
    non-ASCII escaped (``json.dumps(..., sort_keys=True, separators=(",", ":"))``).

    orjson writes the same bytes several times faster whenever its output is plain ASCII
    without escapes and the record has no float field (the two format floats and escapes
    differently); anything else goes through ``json`` itself, so a digest never changes."""
    data = record.model_dump(mode="json")
    payload: bytes | None = None
    if _orjson_hashable(type(record)):
        try:
            payload = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
            payload = None
        if payload is not None and payload.translate(None, _PLAIN_JSON):
            payload = None  # a byte json would escape (non-ASCII, control, DEL, \\)
    if payload is None:
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


# bytes both encoders write as they are: printable ASCII but the backslash
_PLAIN_JSON = bytes(c for c in range(0x20, 0x7F) if c != 0x5C)


@cache
def _orjson_hashable(record_type: type[CanonicalRecord]) -> bool:
    return not any(_mentions_float(f.annotation) for f in record_type.model_fields.values())


def _mentions_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(_mentions_float(arg) for arg in typing.get_args(annotation))


def record_row(record: CanonicalRecord, source: str, now: datetime) -> dict[str, Any]:
    if _plain_fields(type(record)):
        # what model_dump gives for fields that are plain values (the same objects, in
        # field order), without its serializer's per-call setup: 3.5 -> 1 us a record
        row = dict(record.__dict__)
        row.pop("usage_ids", None)
    else:
        row = record.model_dump(exclude={"usage_ids"})
    row.update(source=source, record_hash=record_hash(record), ingested_at=now)
    return row


_PLAIN = (str, int, bool, Decimal, datetime, date, type(None))


@cache
def _plain_fields(record_type: type[CanonicalRecord]) -> bool:
    """Whether every field of a record type but ``usage_ids`` holds a plain value (a
    string, an enum of strings, a number, a time, None): ``model_dump`` then returns
    the record's own values. A record type with a model, list or anything else in a
    field, or with serializers of its own, is dumped by pydantic."""
    def plain(annotation: Any) -> bool:
        args = typing.get_args(annotation)
        if args:  # X | None
            return typing.get_origin(annotation) in (typing.Union, types.UnionType) and all(
                plain(arg) for arg in args)
        return isinstance(annotation, type) and issubclass(annotation, _PLAIN)

    decorators = record_type.__pydantic_decorators__
    return (not decorators.field_serializers and not decorators.model_serializers
            and not record_type.model_computed_fields
            and all(plain(f.annotation) for name, f in record_type.model_fields.items()
                    if name != "usage_ids"))


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
                fixed: dict[str, Any] | None = None) -> int:
    """Insert or update ``rows`` on the table's primary key; return rows written.
    ``fixed`` gives columns the same value in every row (it replaces the rows' own)."""
    if not rows:
        return 0
    key = tuple(c.name for c in table.primary_key.columns)
    changing = tuple(c for c in rows[0] if c not in key)
    hashed = "record_hash" in table.c
    writer = _writer(conn.dialect, table, tuple(rows[0]), "upsert") if changing else None
    if writer is not None:
        return writer.write(conn, rows, fixed)
    if fixed:
        rows = [{**row, **fixed} for row in rows]
    stmt = dialect_insert(conn, table)
    if hashed:
        stmt = stmt.on_conflict_do_update(
            index_elements=key,
            set_={c: stmt.excluded[c] for c in changing},
            where=table.c.record_hash != stmt.excluded.record_hash,
        )
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=key, set_={c: stmt.excluded[c] for c in changing}
        )
    return _count_written(conn, stmt, table, rows)


def _count_written(conn: Connection, stmt: Insert, table: Table,
                   rows: Sequence[dict[str, Any]]) -> int:
    # The general path (a column type the fast writer does not know): RETURNING counts
    # the rows really written on both backends (psycopg reports -1 as rowcount for
    # multi-row INSERT ... ON CONFLICT).
    first_key = next(iter(table.primary_key.columns))
    return len(conn.execute(stmt.returning(first_key), list(rows)).all())


# --- the fast writer ---------------------------------------------------------------------

def _sqlite_utc(value: Any) -> str | None:
    """``UtcDateTime`` as SQLAlchemy's SQLite DATETIME stores it (naive UTC text with
    microseconds), in one C call instead of a %-format of seven fields."""
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
    return _naive_utc(value).isoformat(" ", "microseconds")  # type: ignore[union-attr]


def _naive_utc(value: Any) -> datetime | None:
    """``UtcDateTime.process_bind_param``: aware -> naive UTC; naive or not a datetime
    is refused the same way."""
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is UTC:
        return value.replace(tzinfo=None)
    return UtcDateTime().process_bind_param(value, None)  # type: ignore[arg-type]


def _pg_decimal(value: Any) -> Any:
    # psycopg refuses arrays of mixed Python types; a numeric column gets Decimals only
    if value is None or type(value) is Decimal:
        return value
    return Decimal(str(value))


def _pg_float(value: Any) -> Any:
    return None if value is None else float(value)


def _column_plan(column: Any, dialect: Dialect) -> tuple[Callable[[Any], Any] | None, str] | None:
    """How one column's values are bound (a converter or None) and, on PostgreSQL, its
    array type for ``unnest``; None for a type the fast writer leaves to SQLAlchemy."""
    kind = column.type
    pg = dialect.name == "postgresql"
    if isinstance(kind, UtcDateTime):
        return (_naive_utc, "timestamp[]") if pg else (_sqlite_utc, "")
    if isinstance(kind, SqlEnum) or type(kind).__module__.split(".")[0] != "sqlalchemy":
        return None  # enums with their own checks, other TypeDecorators, dialect types
    if isinstance(kind, String):
        return None, "text[]"  # text: an over-long value fails on assignment, not cut
    if isinstance(kind, Boolean):
        array = "boolean[]"
    elif isinstance(kind, Integer):
        array = "bigint[]"
    elif isinstance(kind, Float):
        array = "float8[]"
        if pg:
            return _pg_float, array
    elif isinstance(kind, Numeric):
        array = "numeric[]"
        if pg:
            return (_pg_decimal if kind.asdecimal else _pg_float), array
    elif isinstance(kind, DateTime) and not kind.timezone:
        array = "timestamp[]"
    elif isinstance(kind, Date) and not isinstance(kind, DateTime):
        array = "date[]"
    else:
        return None
    if pg:
        return None, array
    return kind.dialect_impl(dialect).bind_processor(dialect), array


@dataclass(frozen=True)
class _Writer:
    """One table's upsert (or insert-ignore) for a set of columns, as driver SQL."""

    sql: str
    columns: tuple[str, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    postgresql: bool

    def write(self, conn: Connection, rows: Sequence[dict[str, Any]],
              fixed: dict[str, Any] | None = None) -> int:
        """Write ``rows`` (all with ``columns``, ``fixed`` replacing some with one value);
        return how many were new or changed."""
        # column by column: C-level maps instead of a Python loop over every value
        columns = [list(map(itemgetter(name), rows)) if not fixed or name not in fixed
                   else [fixed[name]] * len(rows) for name in self.columns]
        for index, convert in self.converters:
            if fixed and self.columns[index] in fixed:
                columns[index] = [convert(fixed[self.columns[index]])] * len(rows)
            else:
                columns[index] = list(map(convert, columns[index]))
        if self.postgresql:
            # one statement, one array per column: its text never changes, so psycopg
            # prepares it once, however many rows a page holds
            return conn.exec_driver_sql(self.sql, tuple(columns)).rowcount
        # the sqlite3 driver sums each row's changes: an unchanged row counts 0
        return conn.exec_driver_sql(self.sql, list(zip(*columns, strict=True))).rowcount


@lru_cache(maxsize=512)
def _writer(dialect: Dialect, table: Table, columns: tuple[str, ...], mode: str
            ) -> _Writer | None:
    """The fast writer of a table for these columns (cached per engine's dialect), or
    None: use SQLAlchemy's statement."""
    pg = dialect.name == "postgresql"
    if dialect.name not in ("postgresql", "sqlite") or not set(columns) <= set(table.c.keys()):
        return None
    plans = [_column_plan(table.c[name], dialect) for name in columns]
    if any(plan is None for plan in plans):
        return None
    quote = dialect.identifier_preparer.quote
    target = dialect.identifier_preparer.format_table(table)
    names = ", ".join(quote(c) for c in columns)
    if pg:
        arrays = ", ".join(f"%s::{plan[1]}" for plan in plans)  # type: ignore[index]
        head = f"INSERT INTO {target} ({names}) SELECT * FROM unnest({arrays})"
    else:
        head = f"INSERT INTO {target} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    if mode == "ignore":
        sql = f"{head} ON CONFLICT DO NOTHING"
    else:
        key = [c.name for c in table.primary_key.columns]
        changing = [c for c in columns if c not in key]
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in changing)
        sql = f"{head} ON CONFLICT ({', '.join(quote(k) for k in key)}) DO UPDATE SET {sets}"
        if "record_hash" in table.c:
            sql += f" WHERE {target}.record_hash != excluded.record_hash"
    converters = tuple((i, plan[0]) for i, plan in enumerate(plans) if plan[0] is not None)  # type: ignore[index]
    return _Writer(sql, columns, converters, pg)


@dataclass(slots=True)
class PreparedRows:
    """Canonical records turned into rows (with hash and lineage), ready to write; made
    apart from the write so the CPU work can run in another process."""

    tables: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)  # message -> usage rows
    records: int = 0


def prepare_records(records: Sequence[CanonicalRecord], *, source: str,
                    now: datetime | None = None) -> PreparedRows:
    """The rows ``upsert_records`` writes for ``records`` (pure)."""
    now = now or datetime.now(UTC)
    by_kind: dict[str, list[CanonicalRecord]] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    prepared = PreparedRows(records=len(records))
    for kind, group in by_kind.items():
        # The last version of a key in one batch wins, as it would across batches.
        latest = {r.key(): r for r in group}
        prepared.tables.append((kind, [record_row(r, source, now) for r in latest.values()]))
        if kind == InterfaceMessage.kind:
            prepared.links += [
                {"channel": m.channel, "control_id": m.control_id, "usage_id": u,
                 "facility_id": m.facility_id}
                for m in latest.values()
                if isinstance(m, InterfaceMessage)
                for u in m.usage_ids
            ]
    return prepared


def write_prepared(conn: Connection, prepared: PreparedRows,
                   ingested_at: datetime | None = None) -> int:
    """Upsert prepared rows; return how many were new or changed. ``ingested_at``
    re-stamps rows prepared earlier (in a worker) with the time of this write."""
    written = 0
    fixed = {"ingested_at": ingested_at} if ingested_at is not None else None
    for kind, rows in prepared.tables:
        written += upsert_rows(conn, FACT_TABLES[kind], rows, fixed)
    insert_ignore(conn, message_usages, prepared.links)
    return written


def upsert_records(
    conn: Connection,
    records: Sequence[CanonicalRecord],
    *,
    source: str,
    now: datetime | None = None,
) -> int:
    """Write canonical records of any kinds; return how many rows were new or changed."""
    return write_prepared(conn, prepare_records(records, source=source, now=now))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose key is not there yet; leave existing ones alone."""
    if not rows:
        return 0
    writer = _writer(conn.dialect, table, tuple(rows[0]), "ignore")
    if writer is not None:
        return writer.write(conn, rows)
    stmt = dialect_insert(conn, table).on_conflict_do_nothing()
    return _count_written(conn, stmt, table, rows)


def quarantine(
    conn: Connection,
    *,
    source: str,
    position: str,
    reason: str,
    raw_payload: str | bytes,
    record_kind: str = "",
    now: datetime | None = None,
    payload_hash: str = "",
) -> bool:
    """Keep a bad record aside with its reason; return whether a row was added.

    A payload is kept once per place: a file position (``file@offset``, ``file#entry3``)
    is part of its identity, so a bad payload repeated at ten offsets is ten rows and a
    re-read of the same file adds none; an HTTP position (``https://...``) is not (its
    query changes from poll to poll, and the overlap window re-reads the same resource),
    so a re-polled bad resource stays one row. ``payload_hash`` identifies the payload
    when ``raw_payload`` is its ciphertext (which differs at each encryption); by default
    the SHA-256 of ``raw_payload``. Position, reason and kind are made storable (NUL,
    lone surrogates, widths): a quarantine row must never fail the page it belongs to."""
    raw = raw_payload.decode("utf-8", "replace") if isinstance(raw_payload, bytes) else raw_payload
    digest = payload_hash or hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    row = {
        "source": source,
        "record_kind": clean_text(record_kind)[:_KIND_WIDTH],
        "position": clean_text(position)[:_POSITION_WIDTH],
        "reason": clean_text(reason),
        "raw_payload": clean_text(raw),
        "payload_hash": quarantine_key(position, digest),
        "quarantined_at": now or datetime.now(UTC),
        "status": "open",
    }
    return insert_ignore(conn, quarantined_records, [row]) == 1


_KIND_WIDTH = quarantined_records.c.record_kind.type.length
_POSITION_WIDTH = quarantined_records.c.position.type.length


def quarantine_key(position: str, digest: str) -> str:
    """The dedup key of a quarantined payload (see ``quarantine``): its digest alone at
    an HTTP position, else a digest of the position and the payload's digest."""
    if position.startswith(("http://", "https://")):
        return digest
    place = position.encode("utf-8", "backslashreplace")
    return hashlib.sha256(place + b"\0" + digest.encode()).hexdigest()


def read_watermark(conn: Connection, source: str, stream: str) -> str | None:
    cursor = conn.execute(
        select(source_watermarks.c.cursor).where(
            source_watermarks.c.source == source, source_watermarks.c.stream == stream
        )
    ).scalar_one_or_none()
    return cursor


def write_watermark(
    conn: Connection, source: str, stream: str, cursor: str, now: datetime | None = None
) -> None:
    """Move a source's cursor; call it in the transaction that wrote the records."""
    upsert_rows(
        conn,
        source_watermarks,
        [{"source": source, "stream": stream, "cursor": cursor,
          "updated_at": now or datetime.now(UTC)}],
    )
