"""A page of a stream in the store: its records (or the rows a worker made of them), its
quarantined rejects, and the stream's cursor (``source_watermarks``).

``CollectContext.commit_page`` calls these in one transaction; the row preparation
(``prepare_rows``) is pure and runs in worker processes as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from core.model import CanonicalRecord
from store.schema import source_watermarks
from store.upsert import (
    PreparedRows,
    prepare_records,
    quarantine,
    read_watermark,
    upsert_records,
    write_prepared,
    write_watermark,
)

__all__ = ["PreparedRows", "prepare_rows", "quarantine_reject", "read_cursor", "read_cursors",
           "write_cursor", "write_prepared_rows", "write_records"]


def prepare_rows(records: Sequence[CanonicalRecord], source: str) -> PreparedRows:
    """The rows ``write_records`` would write for ``records`` (pure; for a worker)."""
    return prepare_records(records, source=source)


def write_records(conn: Connection, records: Sequence[CanonicalRecord], source: str) -> int:
    """Upsert canonical records of any kinds; how many rows were new or changed."""
    return upsert_records(conn, records, source=source)


def write_prepared_rows(conn: Connection, prepared: PreparedRows, ingested_at: datetime
                        ) -> int:
    """Upsert rows a worker prepared, stamped ``ingested_at``; how many were new or
    changed."""
    return write_prepared(conn, prepared, ingested_at)


def quarantine_reject(conn: Connection, *, source: str, position: str, reason: str,
                      sealed: str, digest: str, record_kind: str) -> bool:
    """Keep a rejected payload (already sealed) aside with its reason; whether a row was
    added (the same payload at the same place is kept once)."""
    return quarantine(conn, source=source, position=position, reason=reason,
                      raw_payload=sealed, payload_hash=digest, record_kind=record_kind)


def read_cursor(conn: Connection, source: str, stream: str) -> str | None:
    """A stream's committed cursor, or None before its first page."""
    return read_watermark(conn, source, stream)


def read_cursors(conn: Connection, source: str) -> dict[str, str]:
    """Every committed cursor of a source, by stream."""
    w = source_watermarks
    rows = conn.execute(select(w.c.stream, w.c.cursor).where(w.c.source == source))
    return {row.stream: row.cursor for row in rows}


def write_cursor(conn: Connection, source: str, stream: str, cursor: str) -> None:
    """Move a stream's cursor, in the transaction that wrote its page."""
    write_watermark(conn, source, stream, cursor)
