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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

import hl7
from hl7.exceptions import ParseException
from hl7.parser import create_parse_plan

from core.errors import RecordError

BOM = b"\xef\xbb\xbf"
MLLP_END = b"\x1c"
_SEGMENT_END = re.compile(r"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
# Inside a line, another message starts at an MSH segment (an MSH can only open a
# message): after a segment's CR, or in the middle of a segment when a writer cut a
# message short and the next one follows at once. Mid-segment, only a whole MSH header
# counts (MSH, the field separator, 3-5 encoding characters, the field separator again),
# so a field value holding "MSH" does not.
_INNER_MSH = (rb"(?<=\r)MSH"
              rb"|(?<![\r\x0b\xbf])MSH(?=([^A-Za-z0-9\s])[^A-Za-z0-9\s]{3,5}\1)")
_INNER_MESSAGE_START = re.compile(_INNER_MSH)
# In a CR-segment log, an MLLP start byte opens a message as well.
_CR_MESSAGE_START = re.compile(rb"\x0b|" + _INNER_MSH)
# A line that can be an ER7 segment: three letters/digits then a separator (or nothing).
_SEGMENT_LINE = re.compile(rb"^\x0b?(?:\xef\xbb\xbf)?[A-Z][A-Z0-9]{2}(?:[^A-Za-z0-9\r\n]|$)")
_JUNK = b"\r\n\t \x00"
# In LF/CRLF logs a line ends at LF or at an MLLP end byte (frames may follow each other).
_LF_LINE_END = re.compile(rb"\x1c\r?\n?|\n")
# Batch envelopes (FHS/BHS ... BTS/FTS) wrap messages in batch files and some logs; they
# carry no message, so they are read as structure and left out: a header before the first
# MSH is a block of its own, dropped; the trailers after the last message are cut from it
# (its last segment must stay its own, for the truncation check).
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
_TRAILERS = re.compile(rb"(?:[\r\n]+(?:BTS|FTS)(?:[^A-Za-z0-9\r\n][^\r\n]*)?)+[\r\n]*$")


class Block(NamedTuple):
    """One message's bytes as found in the log, with its byte offsets. (A named tuple:
    millions are made per log, and a frozen dataclass's __init__ costs twice as much.)"""

    offset: int
    end: int  # offset just after its terminator: where the next read may resume
    raw: bytes
    # the next message started inside this one's last segment: cut short by its writer
    cut: bool = False


def _cr_segments(data: bytes) -> bool:
    """True when segments end with a bare CR, so a LF ends a message (the usual log).

    Only the CRs not followed by LF (nor ending an MLLP frame) tell: a CR+LF may end a
    message's last segment and its line at once, so an ACK log of two-segment messages
    (``MSH...\\rMSA...\\r\\n``) has as many CR+LFs as bare CRs, and a log whose
    segments end with CR+LF has no bare CR at all."""
    crlf = data.count(b"\r\n")
    bare = data.count(b"\r") - crlf - data.count(b"\x1c\r") + data.count(b"\x1c\r\n")
    if data.endswith(b"\r") and not data.endswith(b"\x1c\r"):
        # a read that stops between a CR+LF's two bytes: its CR is not known to be bare
        # (counted bare, a CR+LF log's first read took its first segment for a message)
        bare -= 1
    return bare > 0 and bare * 2 >= crlf


def split_blocks(data: bytes, base: int = 0, *, final: bool = False,
                 cr_mode: bool | None = None) -> tuple[list[Block], int]:
    """Cut ``data`` (read from byte ``base`` of a file) into message blocks.

    Returns the complete blocks and the offset just after the last one. A trailing block
    that may still be growing is left for the next read unless ``final`` (a rotated file
    or a backfill). ``cr_mode`` forces the segment-end reading ``complete_end`` chose.
    """
    start = len(BOM) if base == 0 and data.startswith(BOM) else 0
    if _cr_segments(data) if cr_mode is None else cr_mode:
        blocks, consumed = _split_cr(data, start, final)
    else:
        blocks, consumed = _split_lines(data, start, final)
    return [Block(base + b.offset, base + b.end, b.raw, b.cut) for b in blocks], base + consumed


def complete_end(data: bytes, base: int = 0, *, final: bool = False) -> tuple[int, bool]:
    """Where the complete messages in ``data`` end (a file offset), and whether its
    segments end with CR, without cutting it into blocks: in a CR-segment log every LF
    ends a message, so this is one ``rfind``; other layouts are split to find out.
    ``split_blocks(data[:end - base], base, final=True, cr_mode=...)`` then yields the
    same blocks as ``split_blocks(data, base, final=final)``."""
    cr_mode = _cr_segments(data)
    if final:
        return base + len(data), cr_mode
    if cr_mode:
        last = data.rfind(b"\n")
        if last >= 0:
            return base + last + 1, cr_mode
    return split_blocks(data, base, cr_mode=cr_mode)[1], cr_mode


def _split_cr(data: bytes, start: int, final: bool) -> tuple[list[Block], int]:
    # Segments end with CR; each message is one LF-ended line, maybe MLLP-framed, maybe
    # several messages on a line (frames back to back, or CR-only logs).
    blocks: list[Block] = []
    pos, n = start, len(data)
    while pos < n:
        nl = data.find(b"\n", pos)
        line_end = n if nl < 0 else nl
        cuts = [pos]
        if data.find(b"\x0b", pos + 1, line_end) >= 0 or data.find(b"MSH", pos + 1, line_end) >= 0:
            cuts += [m.start() for m in _CR_MESSAGE_START.finditer(data, pos + 1, line_end)]
        cuts.append(line_end)
        for i in range(len(cuts) - 1):
            s, e = cuts[i], cuts[i + 1]
            last_piece = i == len(cuts) - 2
            if last_piece and nl < 0 and not final:
                # an unterminated tail: complete only when its MLLP frame is closed
                if data[s:e].rstrip(b"\r").endswith(MLLP_END):
                    _add_block(blocks, data[s:e], s, e)
                    return blocks, e
                return blocks, s
            # a piece the next message cuts off ends neither with a segment's CR nor
            # with an MLLP frame's end
            cut = not last_piece and not data[s:e].rstrip(b"\r").endswith(MLLP_END) \
                and data[e - 1:e] != b"\r"
            _add_block(blocks, data[s:e], s, e + 1 if last_piece and nl >= 0 else e, cut)
        pos = line_end + 1
    return blocks, n


def _split_lines(data: bytes, start: int, final: bool) -> tuple[list[Block], int]:
    # Segments end with LF or CRLF: a message runs from its MSH line to the next MSH, a
    # blank line or an MLLP end byte. A broken line inside a message makes that message
    # one reject; a broken line between messages is a reject of its own.
    blocks: list[Block] = []
    pos = start
    msg_start = -1  # offset of the open message, -1 when none
    consumed = start
    for match in _LF_LINE_END.finditer(data, start):
        line_end, line_next = match.start(), match.end()
        # a line is read as pieces: another message may start inside it (see _INNER_MSH)
        pieces: Iterable[tuple[int, int, int, bool]] = (
            ((pos, line_end, line_next, False),)
            if data.find(b"MSH", pos + 1, line_end) < 0
            else _pieces(data, pos, line_end, line_next))
        for piece_start, piece_end, nxt, cut in pieces:
            line = data[piece_start:piece_end]
            frame_end = nxt == line_next and match.group()[:1] == MLLP_END
            body = line.rstrip(b"\r").strip(b"\t \x00")
            if not body:
                if msg_start >= 0:
                    _add_block(blocks, data[msg_start:nxt], msg_start, nxt)
                    msg_start = -1
                consumed = nxt
            elif _SEGMENT_LINE.match(body):
                if msg_start >= 0 and body.lstrip(b"\x0b").lstrip(BOM).startswith(b"MSH"):
                    _add_block(blocks, data[msg_start:piece_start], msg_start, piece_start, cut)
                    consumed, msg_start = piece_start, -1
                if msg_start < 0:
                    msg_start = piece_start  # a message (or one without MSH, rejected whole)
                if frame_end:
                    _add_block(blocks, data[msg_start:nxt], msg_start, nxt)
                    msg_start, consumed = -1, nxt
            elif msg_start >= 0:
                pass  # a broken line inside a message: the whole message is rejected as one
            else:
                _add_block(blocks, line, piece_start, nxt)  # garbage between messages
                consumed = nxt
        pos = line_next
    if final:
        begin = msg_start if msg_start >= 0 else pos
        if begin < len(data):
            _add_block(blocks, data[begin:], begin, len(data))
        return blocks, len(data)
    return blocks, consumed


def _pieces(data: bytes, pos: int, line_end: int, line_next: int
            ) -> list[tuple[int, int, int, bool]]:
    """A line holding the start of another message, as (start, end, where the next read
    resumes, cut) pieces: a piece starting mid-line cuts the message before it short,
    unless that message's last segment ended with its CR."""
    starts = [pos] + [m.start() for m in _INNER_MESSAGE_START.finditer(data, pos + 1, line_end)]
    out = []
    for j, start in enumerate(starts):
        end = starts[j + 1] if j + 1 < len(starts) else line_end
        out.append((start, end, line_next if end == line_end else end,
                    j > 0 and data[start - 1:start] != b"\r"))
    return out


def _add_block(blocks: list[Block], raw: bytes, offset: int, end: int,
               cut: bool = False) -> None:
    stripped = raw.strip(_JUNK)
    lead = len(raw) - len(raw.lstrip(_JUNK))
    if stripped[:1] == b"\x0b":
        stripped = stripped[1:]
        lead += 1
    if stripped.startswith(BOM):
        stripped = stripped[len(BOM):]
        lead += len(BOM)
    if stripped.endswith(MLLP_END):
        stripped = stripped[:-1].rstrip(b"\r\n")
    if stripped[:3] in _ENVELOPE and all(
            seg[:3] in _ENVELOPE for seg in re.split(rb"[\r\n]+", stripped) if seg):
        return
    if b"BTS" in stripped or b"FTS" in stripped:
        trailers = _TRAILERS.search(stripped)
        if trailers is not None:
            stripped = stripped[:trailers.start()]
    if stripped:
        blocks.append(Block(offset + lead, end, stripped, cut))


@dataclass(slots=True)
class Hl7Message:
    """A message split into segments; fields split on demand with its own separators."""

    text: str
    field_sep: str
    component_sep: str
    repetition_sep: str
    escape: str
    segments: dict[str, list[str]] = field(default_factory=dict)
    _split: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    last: str = ""  # the last segment: where a message cut short shows it

    def fields(self, segment: str, index: int = 0) -> list[str] | None:
        """The fields of the index-th such segment, split once per message."""
        key = (segment, index)
        cached = self._split.get(key)
        if cached is not None:
            return cached
        found = self.segments.get(segment)
        if not found or index >= len(found):
            return None
        split = self._split[key] = found[index].split(self.field_sep)
        return split

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
    """Parse one block; raise ``RecordError`` saying why it is not a usable message.

    The reasons are stored beside the quarantined payload in clear, so they name
    segment IDs, field numbers and byte positions, never the text of a field (a name,
    an MRN)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text (byte {exc.start}): check the log encoding") from None
    if not text.startswith("MSH"):
        first = text[:3]
        what = (f"its first segment is {first}" if _SEGMENT_ID.match(first)
                and text[3:4] in ("|", "") else "it starts with no segment ID")
        raise RecordError(f"no MSH segment at the start ({what}): a message without its "
                          "header, or not HL7")
    header = text[:9] if len(text) > 8 and text[8] == text[3:4] else text[:10]
    seps = _separators.get(header)
    if seps is None:
        seps = _separators_of(text)
        if len(_separators) < 64:  # a log uses one or two headers; junk must not grow it
            _separators[header] = seps
    field_sep, component, repetition, escape = seps
    msg = Hl7Message(text, field_sep, component, repetition, escape)
    segments = msg.segments
    parts = _SEGMENT_END.split(text)
    for segment in parts:
        if not segment:
            continue
        name = segment[:3]
        if (len(segment) > 3 and segment[3] != field_sep) or not _SEGMENT_ID.match(name):
            number = [p for p in parts if p].index(segment) + 1
            raise RecordError(f"malformed segment: segment {number} of the message does not "
                              "start with a segment ID (3 upper-case letters or digits) "
                              f"and {field_sep!r}")
        found = segments.get(name)
        if found is None:
            segments[name] = [segment]
        else:
            found.append(segment)
    msg.last = parts[-1] or next((p for p in reversed(parts) if p), "")
    return msg


# MSH-1/MSH-2 header -> (field, component, repetition, escape) separators; a log reuses
# one header for millions of messages, so python-hl7's parse plan is made once per header
_separators: dict[str, tuple[str, str, str, str]] = {}


def _separators_of(text: str) -> tuple[str, str, str, str]:
    try:
        plan = create_parse_plan(text)
    except (ParseException, IndexError):
        # python-hl7's message may quote the text: the reason must not
        raise RecordError("bad MSH header: no field separator and encoding characters "
                          "after MSH") from None
    seps = plan.separators  # "\r" + field, repetition, component, sub-component
    encoding = text[4 : text.find(seps[1], 4)] if len(text) > 4 else ""
    chars = seps[1:] + plan.esc
    if (
        len(encoding) not in (4, 5)  # v2.7 adds a truncation character
        or len(set(chars)) != 5
        or len(set(encoding + seps[1])) != len(encoding) + 1
        or any(c.isalnum() or c in "\r\n " for c in chars)
    ):
        raise RecordError(f"bad encoding characters {text[3:8]!r} in MSH-1/MSH-2")
    return seps[1], seps[3], seps[2], plan.esc


# python-hl7 matches a DTM prefix only ("2026-11-18T10:15" parses as 2026-01-01), so the
# whole value is checked here; minute precision at least, as HL7 requires of MSH-7. The
# common shapes are read directly (two per message, millions of messages); anything
# else that matches goes through ``hl7.parse_datetime``.
_DTM = re.compile(r"^\d{12}(?:\d{2}(?:\.\d{1,4})?)?(?:[+-]\d{4})?$")
_DTM_FAST = re.compile(r"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.(\d{1,4}))?"
                       r"(?:([+-])(\d\d)(\d\d))?$")
_OFFSETS: dict[str, timezone] = {}
_TS_CHARS = re.compile(r"^[0-9+\-.]{0,40}$")


def parse_hl7_time(value: str, what: str) -> datetime:
    """An HL7 DTM (``YYYYMMDDHHMM[SS[.S]][+ZZZZ]``) as aware UTC; naive means UTC."""
    fast = _DTM_FAST.match(value)
    if fast is not None:
        y, mo, d, h, mi, sec, frac, sign, oh, om = fast.groups()
        try:
            tz = UTC
            if sign is not None:
                key = sign + oh + om
                tz = _OFFSETS.get(key) or _OFFSETS.setdefault(key, timezone(
                    (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))))
            parsed = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0),
                              int((frac or "0").ljust(6, "0")[:6]), tzinfo=tz)
        except ValueError:
            parsed = None
    else:
        try:
            parsed = hl7.parse_datetime(value) if _DTM.match(value) else None
        except (ValueError, TypeError):
            parsed = None
    if parsed is None:
        # quoted only when it holds nothing but a timestamp's characters: a field
        # shifted by a broken message may hold a name here
        shown = repr(value) if _TS_CHARS.match(value) else f"(a value of {len(value)} characters)"
        raise RecordError(f"{what} {shown} is not an HL7 timestamp")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise RecordError(f"{what} {value!r} is outside the years 1-9999 in UTC") from None
