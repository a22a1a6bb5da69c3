"""HL7 v2 log parsing (pure): bytes of a log file -> message blocks -> parsed messages.

Engine logs hold ER7 messages with segments ended by CR (standard), LF or CRLF, maybe a
UTF-8 BOM, some MLLP-framed (``0x0B ... 0x1C 0x0D``) as captured from the wire. The
separators and escape character come from each message's MSH through python-hl7's
parse plan (``hl7.parser.create_parse_plan``), timestamps through ``hl7.parse_datetime``; fields
are then split lazily, only for the segments a mapping asks for, because a full
``hl7.parse`` (a container object per component) costs ~150 µs a message and the logs
run to millions of messages. ``tests/collectors/test_hl7_parse.py`` checks the values
agree with ``hl7.parse``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import hl7
from hl7.exceptions import ParseException
from hl7.parser import create_parse_plan

from chargeline.errors import RecordError

BOM = b"\xef\xbb\xbf"
MLLP_START = 0x0B
MLLP_END = b"\x1c"
_SEGMENT_END = re.compile(r"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
# A message starts at "MSH" at the start of the data or of a line/frame.
_MSH_START = re.compile(rb"(?:^|(?<=[\r\n\x0b]))MSH")


@dataclass(slots=True, frozen=True)
class Block:
    """One message's bytes as found in the log, with its byte offsets."""

    offset: int
    end: int  # offset just after its terminator: where the next read may resume
    raw: bytes


def _cr_segments(data: bytes) -> bool:
    """True when segments end with a bare CR, so a LF ends a message (the usual log)."""
    cr = data.count(b"\r")
    return cr > 0 and data.count(b"\r\n") * 2 < cr


def split_blocks(data: bytes, base: int = 0, *, final: bool = False) -> tuple[list[Block], int]:
    """Cut ``data`` (read from byte ``base`` of a file) into message blocks.

    Returns the complete blocks and the offset just after the last one. A trailing block
    that may still be growing is left for the next read unless ``final`` (a rotated file
    or a backfill).
    """
    start = 0
    if base == 0 and data.startswith(BOM):
        start = len(BOM)
    blocks: list[Block] = []
    if _cr_segments(data):
        # each message is one line (CR inside, LF after), maybe inside an MLLP frame
        pos = start
        n = len(data)
        while pos < n:
            nl = data.find(b"\n", pos)
            if nl < 0:
                tail = data[pos:]
                if final or tail.rstrip(b"\r").endswith(MLLP_END):
                    _add_block(blocks, tail, base + pos, base + n)
                    pos = n
                break
            _add_block(blocks, data[pos:nl], base + pos, base + nl + 1)
            pos = nl + 1
        consumed = pos
    else:
        starts = [m.start() for m in _MSH_START.finditer(data, start)]
        if not starts or starts[0] != start:
            starts.insert(0, start)
        consumed = start
        for i, s in enumerate(starts):
            last = i == len(starts) - 1
            if last and not final:
                break  # LF-ended segments: only the next MSH proves a message complete
            e = len(data) if last else starts[i + 1]
            # a leading MLLP start byte belongs to the next message
            cut = e - 1 if e > s and data[e - 1] == MLLP_START and not last else e
            _add_block(blocks, data[s:cut], base + s, base + cut)
            consumed = cut
        if final:
            consumed = len(data)
    return blocks, base + consumed


def _add_block(blocks: list[Block], raw: bytes, offset: int, end: int) -> None:
    stripped = raw.strip(b"\r\n\t \x00")
    lead = len(raw) - len(raw.lstrip(b"\r\n\t \x00"))
    if stripped[:1] == b"\x0b":
        stripped = stripped[1:]
        lead += 1
    if stripped.endswith(MLLP_END):
        stripped = stripped[:-1].rstrip(b"\r\n")
    if stripped:
        blocks.append(Block(offset + lead, end, stripped))


@dataclass(slots=True)
class Hl7Message:
    """A message split into segments; fields split on demand with its own separators."""

    text: str
    field_sep: str
    component_sep: str
    repetition_sep: str
    escape: str
    segments: dict[str, list[str]] = field(default_factory=dict)

    def fields(self, segment: str, index: int = 0) -> list[str] | None:
        found = self.segments.get(segment)
        if not found or index >= len(found):
            return None
        return found[index].split(self.field_sep)

    def field(self, segment: str, number: int, component: int = 0, index: int = 0) -> str:
        """SEG-number[.component] of the index-th such segment ('' when absent)."""
        fields = self.fields(segment, index)
        if fields is None:
            return ""
        position = number - 1 if segment == "MSH" else number
        if position >= len(fields) or position < 0:
            return ""
        value = fields[position]
        if segment != "MSH" or number > 2:
            value = value.split(self.repetition_sep, 1)[0]
            if component:
                parts = value.split(self.component_sep)
                value = parts[component - 1] if component <= len(parts) else ""
        if self.escape and self.escape in value:
            value = _unescape(value, self)
        return value

    def field_all(self, segment: str, number: int, component: int = 0) -> list[str]:
        """SEG-number of every repeat of the segment (FT1-2 of each FT1)."""
        count = len(self.segments.get(segment, ()))
        return [self.field(segment, number, component, i) for i in range(count)]


def _unescape(value: str, msg: Hl7Message) -> str:
    table = {"F": msg.field_sep, "S": msg.component_sep, "R": msg.repetition_sep,
             "E": msg.escape, "T": "&"}
    esc = msg.escape
    return re.sub(re.escape(esc) + r"([FSRET])" + re.escape(esc),
                  lambda m: table[m.group(1)], value)


def parse_message(raw: bytes) -> Hl7Message:
    """Parse one block; raise ``RecordError`` saying why it is not a usable message."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text (byte {exc.start}): check the log encoding") from None
    if not text.startswith("MSH"):
        raise RecordError(f"no MSH segment at the start (starts with {text[:8]!r})")
    try:
        plan = create_parse_plan(text)
    except (ParseException, IndexError) as exc:
        raise RecordError(f"bad MSH header: {exc}") from None
    seps = plan.separators  # "\r" + field, repetition, component, sub-component
    encoding = text[4 : text.find(seps[1], 4)] if len(text) > 4 else ""
    chars = seps[1:] + plan.esc
    if (
        len(encoding) != 4
        or len(set(chars)) != 5
        or any(c.isalnum() or c in "\r\n " for c in chars)
    ):
        raise RecordError(f"bad encoding characters {text[3:8]!r} in MSH-1/MSH-2")
    msg = Hl7Message(text, seps[1], seps[3], seps[2], plan.esc)
    for segment in _SEGMENT_END.split(text):
        if not segment:
            continue
        name = segment[:3]
        if not _SEGMENT_ID.match(name) or (len(segment) > 3 and segment[3] != msg.field_sep):
            raise RecordError(f"malformed segment {segment[:12]!r}: not SEG{msg.field_sep}...")
        msg.segments.setdefault(name, []).append(segment)
    return msg


def parse_hl7_time(value: str, what: str) -> datetime:
    """An HL7 DTM (``YYYYMMDDHHMMSS[.S][+ZZZZ]``) as aware UTC; naive means UTC."""
    try:
        parsed = hl7.parse_datetime(value)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None:
        raise RecordError(f"{what} {value!r} is not an HL7 timestamp")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
