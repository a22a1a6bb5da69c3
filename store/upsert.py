"""Idempotent writes on natural keys, the same on SQLite and PostgreSQL.

An upsert writes a row only when it is new or its content changed (``record_hash``), so
re-ingesting the same record changes nothing, not even ``ingested_at``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from chargeline.model import CanonicalRecord, InterfaceMessage
from store.schema import FACT_TABLES, message_usages, quarantined_records, source_watermarks


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


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or update ``rows`` on the table's primary key; return rows written."""
    if not rows:
        return 0
    key = [c.name for c in table.primary_key.columns]
    stmt = dialect_insert(conn, table)
    changing = [c for c in rows[0] if c not in key]
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
    return _count_written(conn, stmt, table, rows)


def _count_written(conn: Connection, stmt: Insert, table: Table,
                   rows: Sequence[dict[str, Any]]) -> int:
    # One statement executed for many rows: SQLAlchemy's "insertmanyvalues" batches it
    # into multi-row INSERTs within each driver's parameter limit, and the compiled form
    # is cached (building a VALUES clause per chunk cost more than the database work).
    # RETURNING counts the rows really written on both backends (psycopg reports -1 as
    # rowcount for multi-row INSERT ... ON CONFLICT).
    first_key = next(iter(table.primary_key.columns))
    return len(conn.execute(stmt.returning(first_key), list(rows)).all())


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
                {"channel": m.channel, "control_id": m.control_id, "usage_id": u}
                for m in latest.values()
                if isinstance(m, InterfaceMessage)
                for u in m.usage_ids
            ]
    return prepared


def write_prepared(conn: Connection, prepared: PreparedRows) -> int:
    """Upsert prepared rows; return how many were new or changed."""
    written = 0
    for kind, rows in prepared.tables:
        written += upsert_rows(conn, FACT_TABLES[kind], rows)
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
