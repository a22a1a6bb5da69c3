"""The interface-engine log collector: tails HL7 v2 log files that grow and rotate.

Layout: ``<path>/<channel>/<anything>.hl7`` (one folder per channel; a file directly in
``<path>`` takes its channel from the file name before the first ``-``). The cursor of a
file is ``<byte offset>:<fingerprint>``: the offset just after the last complete message
read, and a hash of the file's first bytes (up to 256, never past the offset) so a file
replaced under the same name (a logrotate ``copytruncate``, a rename and re-create) is
read again from the start; the upserts on (channel, control id, facility) make that
harmless.

Rotation: a file that is not the newest of its channel (a new daily file appeared), or
whose name ends in a rotation number (``x.hl7.1``), is complete, so its last message is
read even without a terminator.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection

from collectors.base import CollectContext, Reject
from collectors.data.acks import apply_early_acks, apply_late_acks
from collectors.data.bounds import CHANNEL_WIDTH
from collectors.data.pages import read_cursors
from collectors.hl7_parse import complete_end
from collectors.hl7_workers import Chunk, ChunkConverter
from collectors.registry import register
from core.errors import SourceError
from core.model import InterfaceMessage

CHUNK_BYTES = 4 << 20  # one transaction per ~4 MB of log (~8,000 messages)
PARALLEL_MIN_BYTES = 3 * CHUNK_BYTES  # a backlog worth starting worker processes for
FINGERPRINT_BYTES = 256
PATTERNS = ("*.hl7", "*.er7", "*.log", "*.txt", "*.hl7.[0-9]*", "*.log.[0-9]*")
_ROTATION_NUMBER = re.compile(r"\.\d+$")



def channel_name(name: str) -> str:
    """A folder's name as a channel: as it is when the store's column holds it, else cut
    and made unique by a hash of the whole (two long names must stay two channels)."""
    if len(name) <= CHANNEL_WIDTH and "\x00" not in name:
        return name
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return f"{name[:CHANNEL_WIDTH - 9].replace(chr(0), '')}~{digest}"


@dataclass(frozen=True)
class LogFile:
    path: Path
    channel: str
    stream: str  # the watermark key: path relative to the source folder
    rotated: bool  # a newer file of the same channel exists


def discover(root: Path) -> list[LogFile]:
    """Every log file under ``root``, oldest first within each channel."""
    by_channel: dict[str, list[Path]] = {}
    for pattern in PATTERNS:
        for path in root.rglob(pattern):
            if not path.is_file():
                continue
            channel = channel_name(path.parent.name if path.parent != root
                                   else path.stem.split("-")[0])
            by_channel.setdefault(channel, []).append(path)
    files = []
    for channel, paths in sorted(by_channel.items()):
        numbered = sorted((p for p in set(paths) if _ROTATION_NUMBER.search(p.name)),
                          key=lambda p: -int(_ROTATION_NUMBER.search(p.name).group()[1:]))  # type: ignore[union-attr]
        live = sorted((p for p in set(paths) if not _ROTATION_NUMBER.search(p.name)),
                      key=lambda p: (p.name, p.stat().st_mtime))
        # oldest first: x.hl7.2, x.hl7.1, then the dated/live files by name
        for path in numbered + live:
            rel = path.relative_to(root).as_posix()
            if len(rel) > 64:  # the watermark key is 64 characters wide
                rel = "b2:" + hashlib.blake2b(rel.encode(), digest_size=20).hexdigest()
            rotated = path in numbered or path != live[-1]
            files.append(LogFile(path, channel, rel, rotated=rotated))
    return files


def fingerprint(handle: object, length: int) -> str:
    """A hash of the file's first ``min(length, 256)`` bytes (empty for an empty head)."""
    handle.seek(0)  # type: ignore[attr-defined]
    head = handle.read(min(length, FINGERPRINT_BYTES))  # type: ignore[attr-defined]
    return hashlib.blake2b(head, digest_size=6).hexdigest() if head else ""


def parse_cursor(cursor: str | None) -> tuple[int, str]:
    if not cursor:
        return 0, ""
    offset, _, mark = cursor.partition(":")
    return int(offset), mark


def read_chunks(handle: object, offset: int, size: int
                ) -> Iterator[tuple[bytes, int, bool]]:
    """Yield (bytes, their file offset, is_last) chunks from ``offset`` to ``size``."""
    pos = offset
    while pos < size:
        handle.seek(pos)  # type: ignore[attr-defined]
        data = handle.read(min(CHUNK_BYTES, size - pos))  # type: ignore[attr-defined]
        if not data:
            return
        yield data, pos, pos + len(data) >= size
        pos += len(data)


def ingest_log_file(ctx: CollectContext, log: LogFile, cursor: str | None,
                    final: bool | None = None) -> None:
    """Read one file from its cursor to its end, a transaction per chunk of messages
    (converted on worker processes when the backlog is long, committed in order)."""
    final = log.rotated if final is None else final
    with open(log.path, "rb") as handle:
        offset, stored_mark = parse_cursor(cursor)
        size = os.fstat(handle.fileno()).st_size
        if offset > size or fingerprint(handle, offset) != stored_mark:
            offset = 0  # replaced or truncated under the same name: read it all again
        if offset >= size:
            return
        parallel = size - offset >= PARALLEL_MIN_BYTES
        with ChunkConverter(ctx.source.mapping, log.channel, ctx.phi_secret, ctx.source.name,
                            parallel, pool=ctx.worker_pool()) as converter:
            pending: deque[tuple[Any, int]] = deque()
            carry = b""
            scheduled = offset
            for data, start, last in read_chunks(handle, offset, size):
                buffer = carry + data
                base = start - len(carry)
                end, cr_mode = complete_end(buffer, base, final=final and last)
                if end == base and len(buffer) >= 4 * CHUNK_BYTES:
                    # past the bound of one message: its bytes are one quarantine row, and
                    # reading goes on after them (the source never sticks on this file)
                    while pending:
                        _commit_chunk(ctx, log, handle, *pending.popleft())
                    _quarantine_unended(ctx, log, handle, buffer, base)
                    carry, scheduled = b"", base + len(buffer)
                    continue
                carry = buffer[end - base:]
                if end == scheduled:
                    continue  # nothing complete yet
                chunk = Chunk(buffer[: end - base], base, cr_mode, log.stream)
                pending.append((converter.submit(chunk), end))
                scheduled = end
                while len(pending) >= converter.in_flight:
                    _commit_chunk(ctx, log, handle, *pending.popleft())
            while pending:
                _commit_chunk(ctx, log, handle, *pending.popleft())


def _quarantine_unended(ctx: CollectContext, log: LogFile, handle: Any, data: bytes,
                        base: int) -> None:
    """``data`` (at file offset ``base``) holds no message end within the bound of one
    message: one quarantine row with its bytes, and the cursor past them."""
    end = base + len(data)
    reason = (f"no message end in {len(data):,} bytes, past the bound of one message "
              f"({4 * CHUNK_BYTES:,} bytes) — is this an HL7 log?")
    reject = Reject(f"{log.stream}@{base}", reason, data, "interface_message")
    ctx.commit_page(log.stream, [], f"{end}:{fingerprint(handle, end)}", [reject])


def _commit_chunk(ctx: CollectContext, log: LogFile, handle: Any, future: Any, end: int
                  ) -> None:
    """One chunk's messages, rejects, late ACKs and the file cursor, in one transaction."""
    done = future.result()
    rejects = [Reject(r.position, r.reason, r.raw, "interface_message") for r in done.rejected]
    acks = done.late_acks
    source = ctx.source.name
    messages = next((rows for kind, rows in done.rows.tables
                     if kind == InterfaceMessage.kind), [])

    def acknowledge(conn: Connection) -> int:
        return (apply_late_acks(conn, log.channel, acks, source)
                + apply_early_acks(conn, source, messages))

    ctx.commit_page(log.stream, [], f"{end}:{fingerprint(handle, end)}", rejects,
                    extra=acknowledge, newest=done.newest, prepared=done.rows)


def all_cursors(ctx: CollectContext) -> dict[str, str]:
    with ctx.engine.connect() as conn:
        return read_cursors(conn, ctx.source.name)


@register
class Hl7LogCollector:
    """Tails every log file under the source's ``path``."""

    kind: ClassVar[str] = "hl7_log"

    def poll(self, ctx: CollectContext) -> None:
        root = Path(ctx.source.path)
        if not root.is_dir():
            raise SourceError(f"HL7 log folder {root} does not exist — set the source's path:")
        cursors = all_cursors(ctx)
        for log in discover(root):
            offset, _ = parse_cursor(cursors.get(log.stream))
            if offset and log.path.stat().st_size == offset:
                continue  # nothing new; the fingerprint is checked once the file grows
            ingest_log_file(ctx, log, cursors.get(log.stream))
