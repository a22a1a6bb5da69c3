"""The one collector interface and the context of a pass.

A collector plugin is a class with a ``kind`` (a ``SourceKind`` of the config) and one
method, ``poll(ctx)``, that fetches what is new (I/O through ``ctx.http`` or files) and
hands each page of canonical records to ``ctx.commit_page``. Turning payloads into
records is done by pure functions in the ``*_records`` modules, tested with recorded
payloads. ``collectors.registry`` knows which plugin polls which kind.

``commit_page`` is the exactly-once seam: the records, the quarantined rejects, the
API-call log and the stream's new watermark are written in ONE transaction, so a crash
before it loses nothing (the page is fetched again) and after it duplicates nothing
(upserts on natural keys, the watermark moved on).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import httpx
from sqlalchemy import Connection, Engine

from collectors.data.pages import (
    PreparedRows,
    quarantine_reject,
    read_cursor,
    write_cursor,
    write_prepared_rows,
    write_records,
)
from collectors.mapping import RecordMapping, load_mapping
from collectors.workers import WorkerPool, borrow_pool, give_back
from core.config import Settings, SourceConfig
from core.errors import ConfigError
from core.keys import patient_token_key
from core.model import CanonicalRecord
from core.sealing import sealer_for


@dataclass(slots=True)
class Reject:
    """A payload that could not become a canonical record, and why."""

    position: str  # file@offset, or URL#entry
    reason: str
    raw: str | bytes
    record_kind: str = ""


@dataclass
class RunTotals:
    """What one pass did, for its ``collector_runs`` row."""

    fetched: int = 0  # canonical records read (new or not)
    written: int = 0  # rows new or changed in the store
    quarantined: int = 0
    newest: datetime | None = None
    stream_errors: list[str] = field(default_factory=list)


def printable_payload(raw: str | bytes) -> str:
    """A raw payload as text a database column holds: undecodable bytes replaced, NUL
    (which PostgreSQL text refuses) written as ``\\x00``."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.replace("\x00", "\\x00")


class PageHook(Protocol):
    def __call__(self, conn: Connection) -> None: ...


@dataclass
class CollectContext:
    """Everything a collector needs for one pass of one source."""

    source: SourceConfig
    settings: Settings
    engine: Engine
    http: Any  # collectors.http.SourceHttp for HTTP sources; None for files
    run_id: str
    totals: RunTotals = field(default_factory=RunTotals)
    on_commit: list[Callable[[Connection], None]] = field(default_factory=list)
    pool: WorkerPool | None = None  # the pass's worker processes, made on first use

    def worker_pool(self) -> WorkerPool:
        """The pass's worker pool (its workers start when a backlog asks for them, or
        were left running by an earlier pass)."""
        if self.pool is None:
            self.pool = borrow_pool()
        return self.pool

    def close(self) -> None:
        """End the pass's use of its worker pool (kept warm a while for the next)."""
        if self.pool is not None:
            give_back(self.pool)
            self.pool = None

    @property
    def phi_secret(self) -> str:
        """The patient token key (``core.keys``; never the public demo default)."""
        return patient_token_key(self.settings)

    def mappings(self, kind: str | None = None) -> dict[str, RecordMapping]:
        return load_mapping(kind or self.source.kind, self.source.mapping)

    def watermark(self, stream: str) -> str | None:
        """The stream's committed cursor, or None before its first page."""
        with self.engine.connect() as conn:
            return read_cursor(conn, self.source.name, stream)

    def commit_page(
        self,
        stream: str,
        records: Sequence[CanonicalRecord],
        cursor: str | None,
        rejects: Sequence[Reject] = (),
        extra: Callable[[Connection], int | None] | None = None,
        newest: datetime | None = None,
        prepared: PreparedRows | None = None,
    ) -> int:
        """Write one page (records, rejects, call log, watermark) in one transaction.
        ``extra`` writes what is not a record (a late ACK, a claim outcome) in the same
        transaction and returns how many rows it changed. ``prepared`` holds records
        already turned into rows (by a worker process) instead of ``records``."""
        sealer = sealer_for(self.settings)  # cached: derives its keys once a process
        with self.engine.begin() as conn:
            if prepared is None:
                written = write_records(conn, records, self.source.name)
            else:  # rows made by a worker: ingested now, as if made here
                written = write_prepared_rows(conn, prepared, datetime.now(UTC))
            for reject in rejects:
                # the payload may carry a name, an MRN, an SSN: stored only encrypted
                raw = reject.raw.encode("utf-8") if isinstance(reject.raw, str) else reject.raw
                quarantine_reject(conn, source=self.source.name, position=reject.position,
                                  reason=reject.reason, sealed=sealer.seal(raw),
                                  digest=sealer.digest(raw), record_kind=reject.record_kind)
            if extra is not None:
                written += extra(conn) or 0
            for hook in self.on_commit:
                hook(conn)
            if cursor is not None:
                write_cursor(conn, self.source.name, stream, cursor)
        self.totals.fetched += len(records) if prepared is None else prepared.records
        self.totals.written += written
        self.totals.quarantined += len(rejects)
        if newest is not None and (self.totals.newest is None or newest > self.totals.newest):
            self.totals.newest = newest
        return written


class Collector(Protocol):
    """A source-kind plugin: fetch what is new and commit it page by page."""

    kind: ClassVar[str]

    def poll(self, ctx: CollectContext) -> None: ...


# Kinds that are not polled: they listen while ``chargeline collector`` runs
LISTENING_KINDS = frozenset({"mllp"})


# Kinds that read a folder of files, not an API
FILE_KINDS = frozenset({"hl7_log", "x12_files"})


def needs_http(kind: str) -> bool:
    return kind not in FILE_KINDS and kind not in LISTENING_KINDS


def make_client(source: SourceConfig, transport: httpx.BaseTransport | None = None
                ) -> httpx.Client:
    """An HTTP client with the source's timeout on connect, read, write and pool, trusting
    the source's ``ca_file`` (or not verifying, ``verify_tls: false``) for TLS."""
    return httpx.Client(timeout=httpx.Timeout(source.timeout_seconds), transport=transport,
                        headers={"Accept": "application/json"}, verify=tls_verify(source))


def tls_verify(source: SourceConfig) -> ssl.SSLContext | bool:
    """The ``verify`` of a source's client: a context trusting its ``ca_file`` (a PEM
    bundle, e.g. an engine's self-signed certificate), else ``verify_tls``."""
    if source.ca_file:
        try:
            return ssl.create_default_context(cafile=source.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"source {source.name}: ca_file {source.ca_file} cannot be read "
                              f"as PEM certificates ({exc}) — e.g. ca_file: "
                              "/etc/chargeline/engine-ca.pem") from None
    return source.verify_tls
