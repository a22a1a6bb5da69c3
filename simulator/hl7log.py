"""The interface engine's HL7 v2 message logs: layout, byte offsets and the file writer.

Files are ``<out>/hl7/<channel>/<channel>-<YYYYMMDD>.hl7``, one per channel per UTC day
of the inbound message (a new day is a rotation). Each inbound message is written
together with the ACK the receiver returned, in order of receipt; a message is written
once its ACK is in (head of line: a later message never overtakes an earlier one), or
without ACK when the log ends before the ACK came (still queued). Because the order is
fixed, the files at any time are prefixes of the final ones and the byte offsets in
the truth file hold in live mode too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.estate_record import Estate
from simulator.hl7render import broken_copy, render_ack, render_message
from simulator.records import Malformed, Message
from simulator.renderer import EstateRenderer
from simulator.timefmt import day_stamp, hl7_ts


@dataclass(slots=True)
class LogEntry:
    """One block of a log file: a message and its ACK, or a malformed message."""

    file: str  # relative to the hl7 folder: <channel>/<channel>-<YYYYMMDD>.hl7
    offset: int
    ready_ms: int  # when the engine wrote it
    data: bytes
    message: Message | None = None
    malformed: Malformed | None = None
    ack: bool = False  # the ACK of ``message`` alone, in a log of its own (separate_ack_log)


@dataclass(slots=True)
class Hl7Layout:
    """Every log entry of every channel, in write order, with byte offsets."""

    as_of: int
    channels: dict[str, list[LogEntry]] = field(default_factory=dict)

    def files(self) -> dict[str, list[LogEntry]]:
        """Entries grouped by file (relative path)."""
        out: dict[str, list[LogEntry]] = {}
        for entries in self.channels.values():
            for e in entries:
                out.setdefault(e.file, []).append(e)
        return out


def _file(channel: str, ms: int) -> str:
    return f"{channel}/{channel}-{day_stamp(ms)}.hl7"


def ack_file(message_file: str) -> str:
    """The ACK log beside a message log (``separate_ack_log``): ``<channel>/<channel>-
    <YYYYMMDD>.ack.hl7``, which sorts before the message log ``<channel>-<YYYYMMDD>.hl7``."""
    return message_file.removesuffix(".hl7") + ".ack.hl7"


def build_layout(estate: Estate, renderer: EstateRenderer | None = None) -> Hl7Layout:
    """Render every log entry up to the end (or the live horizon) and place it, as
    ``renderer`` writes it (default: the estate's own conventions; the truth's offsets
    are those of this default layout)."""
    as_of = estate.horizon_ms if estate.live else estate.end_ms
    layout = Hl7Layout(as_of)
    crlf = renderer is not None and renderer.rendering.ack_crlf
    own_ack_log = renderer is not None and renderer.rendering.separate_ack_log
    for fac in estate.facilities:
        ts = renderer.hl7_of(fac.facility.facility_id) if renderer is not None else hl7_ts
        zoned = ts is not hl7_ts
        bad_after: dict[str, list[Malformed]] = {}
        for bad, after in fac.malformed:
            bad_after.setdefault(after.control_id, []).append(bad)
        for messages in (fac.messages, fac.adt):
            if not messages:
                continue
            channel = messages[0].channel
            entries: list[LogEntry] = []
            sizes: dict[str, int] = {}
            for msg in messages:
                if msg.received_ms >= as_of:
                    break
                data = render_message(msg, ts)
                ready = msg.received_ms
                ack = b""
                if msg.ack_ms is not None and msg.ack_ms <= as_of:
                    ack = render_ack(msg, ts, crlf)
                    ready = msg.ack_ms
                name = _file(channel, msg.received_ms)
                if not own_ack_log:
                    data += ack
                entries.append(LogEntry(name, sizes.get(name, 0), ready, data, message=msg))
                sizes[name] = sizes.get(name, 0) + len(data)
                if own_ack_log and ack:
                    # beside the message's log, written with the message (the engine
                    # logs both once the receiver answered)
                    acks = ack_file(name)
                    entries.append(LogEntry(acks, sizes.get(acks, 0), ready, ack,
                                            message=msg, ack=True))
                    sizes[acks] = sizes.get(acks, 0) + len(ack)
                for bad in bad_after.get(msg.control_id, ()):
                    # a zoned copy of a broken message breaks the zoned message (garbage
                    # is garbage in any zone)
                    payload = (broken_copy(msg, bad.control_id, bad.reason, ts)
                               if zoned and bad.reason != "garbage" else bad.payload)
                    entries.append(LogEntry(name, sizes[name], ready, payload,
                                            malformed=bad))
                    sizes[name] += len(payload)
            # head of line: an entry is written no earlier than the one before it
            latest = 0
            for e in entries:
                latest = max(latest, e.ready_ms)
                e.ready_ms = latest
            layout.channels[channel] = entries
    return layout


class Hl7LogWriter:
    """Appends log entries to ``<root>/<channel>/...`` as their time comes."""

    def __init__(self, layout: Hl7Layout, root: Path) -> None:
        self.layout = layout
        self.root = Path(root)
        self.next = {channel: 0 for channel in layout.channels}

    def write_until(self, now_ms: int) -> int:
        """Write every entry ready by ``now_ms`` not written yet; return how many."""
        written = 0
        for channel, entries in self.layout.channels.items():
            i = self.next[channel]
            handle = None
            current = ""
            try:
                while i < len(entries) and entries[i].ready_ms <= now_ms:
                    e = entries[i]
                    if e.file != current:
                        if handle is not None:
                            handle.close()
                        path = self.root / e.file
                        path.parent.mkdir(parents=True, exist_ok=True)
                        handle = open(path, "ab")  # noqa: SIM115 - kept open across entries
                        current = e.file
                    handle.write(e.data)
                    i += 1
                    written += 1
            finally:
                if handle is not None:
                    handle.close()
            self.next[channel] = i
        return written

    def reset(self) -> None:
        """Remove this estate's log files so a fresh write starts from empty files."""
        for entries in self.layout.channels.values():
            for name in {e.file for e in entries}:
                (self.root / name).unlink(missing_ok=True)
