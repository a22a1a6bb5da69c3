"""Idempotent writes on natural keys, the same on SQLite and PostgreSQL.

An upsert writes a row only when it is new or its content changed (``record_hash``), so
re-ingesting the same record changes nothing, not even ``ingested_at``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from chargeline.model import CanonicalRecord, InterfaceMessage
from store.schema import FACT_TABLES, message_usages, quarantined_records, source_watermarks

# SQLite allows 32,766 bound parameters per statement; stay well below on both backends.
_MAX_PARAMS = 30_000


def dialect_insert(conn: Connection, table: Table) -> Insert:
    """The dialect's INSERT that supports ON CONFLICT (SQLAlchemy has no generic one)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for {conn.dialect.name}")


def record_hash(record: CanonicalRecord) -> str:
    payload = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def record_row(record: CanonicalRecord, source: str, now: datetime) -> dict[str, Any]:
    row = record.model_dump(exclude={"usage_ids"})
    row.update(source=source, record_hash=record_hash(record), ingested_at=now)
    return row


def _chunks(rows: Sequence[dict[str, Any]], width: int) -> Iterable[Sequence[dict[str, Any]]]:
    size = max(1, _MAX_PARAMS // max(width, 1))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or update ``rows`` on the table's primary key; return rows written."""
    if not rows:
        return 0
    key = [c.name for c in table.primary_key.columns]
    written = 0
    for chunk in _chunks(rows, len(rows[0])):
        stmt = dialect_insert(conn, table).values(list(chunk))
        changing = [c for c in chunk[0] if c not in key]
        if "record_hash" in table.c:
            stmt = stmt.on_conflict_do_update(
                index_elements=key,
                set_={c: stmt.excluded[c] for c in changing},
                where=table.c.record_hash != stmt.excluded.record_hash,
            )
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=key, set_={c: stmt.excluded[c] for c in changing}
            )
        written += _count_written(conn, stmt, table)
    return written


def _count_written(conn: Connection, stmt: Insert, table: Table) -> int:
    # RETURNING counts the rows really written on both backends (psycopg reports -1
    # as rowcount for multi-row INSERT ... ON CONFLICT).
    first_key = next(iter(table.primary_key.columns))
    return len(conn.execute(stmt.returning(first_key)).all())


def upsert_records(
    conn: Connection,
    records: Sequence[CanonicalRecord],
    *,
    source: str,
    now: datetime | None = None,
) -> int:
    """Write canonical records of any kinds; return how many rows were new or changed."""
    now = now or datetime.now(UTC)
    by_kind: dict[str, list[CanonicalRecord]] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    written = 0
    for kind, group in by_kind.items():
        # The last version of a key in one batch wins, as it would across batches.
        latest = {r.key(): r for r in group}
        rows = [record_row(r, source, now) for r in latest.values()]
        written += upsert_rows(conn, FACT_TABLES[kind], rows)
        if kind == InterfaceMessage.kind:
            links = [
                {"channel": m.channel, "control_id": m.control_id, "usage_id": u}
                for m in latest.values()
                if isinstance(m, InterfaceMessage)
                for u in m.usage_ids
            ]
            insert_ignore(conn, message_usages, links)
    return written


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose key is not there yet; leave existing ones alone."""
    if not rows:
        return 0
    written = 0
    for chunk in _chunks(rows, len(rows[0])):
        stmt = dialect_insert(conn, table).values(list(chunk)).on_conflict_do_nothing()
        written += _count_written(conn, stmt, table)
    return written


def quarantine(
    conn: Connection,
    *,
    source: str,
    position: str,
    reason: str,
    raw_payload: str | bytes,
    record_kind: str = "",
    now: datetime | None = None,
) -> bool:
    """Keep a bad record aside with its reason; the same payload twice is kept once."""
    raw = raw_payload.decode("utf-8", "replace") if isinstance(raw_payload, bytes) else raw_payload
    row = {
        "source": source,
        "record_kind": record_kind,
        "position": position[:300],
        "reason": reason,
        "raw_payload": raw,
        "payload_hash": hashlib.sha256(raw.encode()).hexdigest(),
        "quarantined_at": now or datetime.now(UTC),
        "status": "open",
    }
    return insert_ignore(conn, quarantined_records, [row]) == 1


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
