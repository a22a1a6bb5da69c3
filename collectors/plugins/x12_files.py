"""The X12 file collector: a folder where 835 remittance files (a clearinghouse drop, an
SFTP mailbox) or the billing system's 837 claim files arrive, polled like the HL7 logs.

Every file under ``path`` whose content opens with ``ISA`` is read from its cursor, the
``<byte offset>:<fingerprint>`` of ``collectors.plugins.hl7_log``: the offset just after
the last complete interchange read, and a hash of the file's first bytes, so a file
replaced under the same name is read again from its start (the upserts on natural keys
make that harmless) and one that grows is read from where it stopped. An interchange
still being written (no ``IEA`` yet at the end of the file) waits for the next pass,
unless the file has not changed for ``SETTLE_SECONDS``: then it is read, and pyx12 says
what is missing. Each batch of interchanges commits its records, its rejects and the
file's cursor in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sqlalchemy import Connection

from collectors.base import CollectContext
from collectors.data.claims import insert_new_claims
from collectors.data.pages import read_cursors
from collectors.plugins.hl7_log import fingerprint, parse_cursor
from collectors.registry import register
from collectors.x12_records import ends_complete, is_x12, parse_x12, split_interchanges
from core.errors import SourceError

BATCH_BYTES = 4 << 20  # one transaction per ~4 MB of interchanges
SETTLE_SECONDS = 300  # a file untouched this long is complete, whatever its end says
HEAD_BYTES = 512


@dataclass(frozen=True)
class X12File:
    path: Path
    stream: str  # the watermark key: the path relative to the source folder


def stream_key(rel: str) -> str:
    """A path as a watermark key (64 characters wide): as it is, else a hash of it."""
    return rel if len(rel) <= 64 else "b2:" + hashlib.blake2b(rel.encode(),
                                                              digest_size=20).hexdigest()


def discover(root: Path) -> list[X12File]:
    """Every X12 file under ``root`` (by content, whatever its name), by path."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        with open(path, "rb") as handle:
            if not is_x12(handle.read(HEAD_BYTES)):
                continue
        found.append(X12File(path, stream_key(path.relative_to(root).as_posix())))
    return found


def ingest_x12_file(ctx: CollectContext, x12: X12File, cursor: str | None,
                    final: bool | None = None) -> None:
    """Read one file from its cursor to its last complete interchange (to its end when
    ``final``: a backfill, or a file that has settled)."""
    with open(x12.path, "rb") as handle:
        offset, stored_mark = parse_cursor(cursor)
        size = os.fstat(handle.fileno()).st_size
        if offset > size or fingerprint(handle, offset) != stored_mark:
            offset = 0  # replaced or truncated under the same name: read it all again
        if offset >= size:
            return
        if final is None:
            final = time.time() - os.fstat(handle.fileno()).st_mtime >= SETTLE_SECONDS
        handle.seek(offset)
        data = handle.read(size - offset)
        pieces = list(split_interchanges(data))
        if pieces and not final and not ends_complete(pieces[-1][1]):
            pieces.pop()  # still being written: the next pass reads it whole
        batch_start = batch_end = 0
        for index, (start, chunk) in enumerate(pieces):
            batch_end = start + len(chunk)
            if batch_end - batch_start < BATCH_BYTES and index + 1 < len(pieces):
                continue
            _commit(ctx, x12, handle, data[batch_start:batch_end], offset + batch_start,
                    offset + batch_end)
            batch_start = batch_end


def _commit(ctx: CollectContext, x12: X12File, handle: object, data: bytes, start: int,
            end: int) -> None:
    source = ctx.source
    page = parse_x12(data, str(x12.path), source.facility_by_payee, source.facility_id,
                     base=start)
    # an 837's claim header never overwrites a claim the store holds (FHIR gave it its
    # encounter, patient token and outcome): inserted when new, in the same transaction
    headers = [r for r in page.records if r.kind == "claim"]
    records = [r for r in page.records if r.kind != "claim"]

    def new_claims(conn: Connection) -> int:
        return insert_new_claims(conn, headers, source.name)

    ctx.commit_page(x12.stream, records, f"{end}:{fingerprint(handle, end)}",
                    page.rejects, extra=new_claims if headers else None, newest=page.newest)


@register
class X12FilesCollector:
    """Reads the 835 and 837 files under the source's ``path``, each exactly once."""

    kind: ClassVar[str] = "x12_files"

    def poll(self, ctx: CollectContext) -> None:
        root = Path(ctx.source.path)
        if not root.is_dir():
            raise SourceError(f"X12 folder {root} does not exist — set the source's path: "
                              "to the folder the 835 files arrive in")
        with ctx.engine.connect() as conn:
            cursors = read_cursors(conn, ctx.source.name)
        for x12 in discover(root):
            offset, _ = parse_cursor(cursors.get(x12.stream))
            if offset and x12.path.stat().st_size == offset:
                continue  # nothing new; the fingerprint is checked once the file grows
            ingest_x12_file(ctx, x12, cursors.get(x12.stream))
