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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, bindparam, delete, select, update

from collectors.base import CollectContext, Reject, register
from collectors.hl7_parse import complete_end
from collectors.hl7_records import LateAck, status_for_ack
from collectors.hl7_workers import Chunk, ChunkConverter
from core.errors import SourceError
from core.model import InterfaceMessage
from store.schema import hl7_early_acks, interface_messages, source_watermarks
from store.upsert import dialect_insert

CHUNK_BYTES = 4 << 20  # one transaction per ~4 MB of log (~8,000 messages)
PARALLEL_MIN_BYTES = 3 * CHUNK_BYTES  # a backlog worth starting worker processes for
FINGERPRINT_BYTES = 256
PATTERNS = ("*.hl7", "*.er7", "*.log", "*.txt", "*.hl7.[0-9]*", "*.log.[0-9]*")
_ROTATION_NUMBER = re.compile(r"\.\d+$")


_CHANNEL_WIDTH = interface_messages.c.channel.type.length or 64


def channel_name(name: str) -> str:
    """A folder's name as a channel: as it is when the store's column holds it, else cut
    and made unique by a hash of the whole (two long names must stay two channels)."""
    if len(name) <= _CHANNEL_WIDTH and "\x00" not in name:
        return name
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return f"{name[:_CHANNEL_WIDTH - 9].replace(chr(0), '')}~{digest}"


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


def _ack_values(ack_code: str, sent_at: Any, error: str) -> dict[str, Any]:
    return {"sent_at": sent_at, "ack_code": ack_code, "error": error,
            "status": status_for_ack(ack_code).value}


Candidate = tuple[str, str]  # (channel, facility_id) of a message with the ACK's control id


def ack_target(channel: str, facility_id: str, candidates: list[Candidate]
               ) -> Candidate | None:
    """The message an ACK names, among the messages with its control id: in its channel,
    the ACK's facility (MSH-6), else the only one of the channel; then, for an ACK read
    from a log of its own (another "channel"), the only one of any channel with that
    facility. Never one of two messages by guess (pure)."""
    if (channel, facility_id) in candidates:
        return channel, facility_id
    for pick in ([c for c in candidates if c[0] == channel],
                 [c for c in candidates if c[1] == facility_id]):
        if len(set(pick)) == 1:
            return pick[0]
    return None


def _candidates(conn: Connection, control_ids: list[str]) -> dict[str, list[Candidate]]:
    m = interface_messages
    out: dict[str, list[Candidate]] = {}
    for start in range(0, len(control_ids), 500):
        for row in conn.execute(select(m.c.control_id, m.c.channel, m.c.facility_id).where(
                m.c.control_id.in_(control_ids[start:start + 500]))):
            out.setdefault(row.control_id, []).append((row.channel, row.facility_id))
    return out


def _update_messages(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """One UPDATE per acknowledged message, sent as one batch (executemany)."""
    if not rows:
        return 0
    m = interface_messages
    stmt = update(m).where(m.c.channel == bindparam("k_channel"),
                           m.c.control_id == bindparam("k_control"),
                           m.c.facility_id == bindparam("k_facility")).values(
        sent_at=bindparam("v_sent_at"), ack_code=bindparam("v_ack_code"),
        error=bindparam("v_error"), status=bindparam("v_status"))
    conn.execute(stmt, rows)
    return len(rows)


def _update_row(target: Candidate, control_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"k_channel": target[0], "k_control": control_id, "k_facility": target[1],
            **{f"v_{k}": v for k, v in values.items()}}


def apply_late_acks(conn: Connection, channel: str, acks: list[LateAck], source: str) -> int:
    """Set sent time, ACK code and status on messages stored by an earlier read; an ACK
    whose message has not been read yet (an ACK log read before the message log) is kept
    in ``hl7_early_acks`` until it comes. Rows written (messages updated, ACKs kept);
    a few statements per chunk, not per ACK."""
    if not acks:
        return 0
    found = _candidates(conn, sorted({a.control_id for a in acks}))
    updates, kept = [], {}
    now = datetime.now(UTC)
    for ack in acks:
        target = ack_target(channel, ack.facility_id, found.get(ack.control_id, []))
        if target is not None:
            values = _ack_values(ack.ack_code, ack.sent_at, ack.error)
            updates.append(_update_row(target, ack.control_id, values))
        else:  # the last ACK of a key in the chunk wins, as a later read would
            kept[ack.facility_id, ack.control_id] = {
                "source": source, "facility_id": ack.facility_id, "control_id": ack.control_id,
                "channel": channel, "sent_at": ack.sent_at, "ack_code": ack.ack_code,
                "error": ack.error, "received_at": now}
    done = _update_messages(conn, updates)
    if kept:
        stmt = dialect_insert(conn, hl7_early_acks)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "facility_id", "control_id"],
            set_={k: stmt.excluded[k] for k in ("channel", "sent_at", "ack_code", "error",
                                                "received_at")}), list(kept.values()))
    return done + len(kept)


def apply_early_acks(conn: Connection, source: str, messages: list[dict[str, Any]]) -> int:
    """Apply the kept ACKs that name messages this chunk stored, and forget them. The
    messages were just written, so the update is not counted again."""
    e = hl7_early_acks
    in_chunk: dict[str, list[Candidate]] = {}
    for m in messages:
        in_chunk.setdefault(m["control_id"], []).append((m["channel"], m["facility_id"]))
    ids = sorted(in_chunk)
    updates, forget = [], []
    for start in range(0, len(ids), 500):
        for ack in conn.execute(select(e).where(
                e.c.source == source, e.c.control_id.in_(ids[start:start + 500]))):
            target = ack_target(ack.channel, ack.facility_id, in_chunk[ack.control_id])
            if target is None:
                continue
            values = _ack_values(ack.ack_code, ack.sent_at, ack.error)
            updates.append(_update_row(target, ack.control_id, values))
            forget.append({"k_facility": ack.facility_id, "k_control": ack.control_id})
    _update_messages(conn, updates)
    if forget:
        conn.execute(delete(e).where(e.c.source == source,
                                     e.c.facility_id == bindparam("k_facility"),
                                     e.c.control_id == bindparam("k_control")), forget)
    return 0


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
                    raise SourceError(f"{log.path}: no message end in {len(buffer)} bytes — "
                                      "is this an HL7 log?")
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
        rows = conn.execute(select(source_watermarks.c.stream, source_watermarks.c.cursor)
                            .where(source_watermarks.c.source == ctx.source.name))
        return {row.stream: row.cursor for row in rows}


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
