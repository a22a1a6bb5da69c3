"""HL7 v2 log splitting and parsing (pure): segment ends, BOM, MLLP frames, growing
tails, and agreement with python-hl7 on the field values the collector reads."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.hl7_parse import parse_hl7_time, parse_message, split_blocks
from core.errors import RecordError
from tests.collectors import payloads as p

MESSAGES = [p.dft(1), p.ack(1), p.dft(2), p.ack(2, "AE", "no such encounter"), p.dft(3)]


def log_bytes(messages: list[str], segment_end: str = "\r", framing: str = "none",
              bom: bool = False) -> bytes:
    """A log as engines write it: segment ends CR/LF/CRLF, each message LF-ended or
    MLLP-framed (``framed``: every message; ``mixed``: every other; ``wire``: frames
    back to back with no LF between them; ``tight``: nothing between messages)."""
    out = b"\xef\xbb\xbf" if bom else b""
    for i, text in enumerate(messages):
        body = text.replace("\r", segment_end).encode()
        framed = framing in ("framed", "wire") or (framing == "mixed" and i % 2 == 0)
        if framed:
            out += b"\x0b" + body + b"\x1c\r" + (b"" if framing == "wire" else b"\n")
        elif framing == "tight":
            out += body
        else:
            out += body + (b"\n" if segment_end == "\r" else segment_end.encode())
    return out


def control_ids(data: bytes, final: bool = True) -> list[str]:
    blocks, _ = split_blocks(data, final=final)
    return [parse_message(b.raw).field("MSH", 10) for b in blocks]


EXPECTED = ["MSG-FAC01-0000001", "ACK-FAC01-0000001", "MSG-FAC01-0000002",
            "ACK-FAC01-0000002", "MSG-FAC01-0000003"]


@pytest.mark.parametrize("segment_end", ["\r", "\n", "\r\n"])
@pytest.mark.parametrize("framing", ["none", "framed", "mixed", "wire", "tight"])
@pytest.mark.parametrize("bom", [False, True])
def test_every_layout_gives_the_same_messages(segment_end: str, framing: str, bom: bool
                                              ) -> None:
    data = log_bytes(MESSAGES, segment_end, framing, bom)
    assert control_ids(data) == EXPECTED
    blocks, end = split_blocks(data, final=True)
    assert end == len(data)
    for block in blocks:  # offsets point at the message itself, for the quarantine
        assert data[block.offset:block.offset + 3] == b"MSH"
        msg = parse_message(block.raw)
        assert sum(len(v) for v in msg.segments.values()) >= 2


def test_cr_only_log_without_line_feeds_is_split_at_each_msh() -> None:
    data = "".join(MESSAGES).encode()  # one long "line": segments and messages end in CR
    assert control_ids(data) == EXPECTED


def test_lf_segments_are_not_collapsed_into_one_like_hl7_parse_does() -> None:
    lf = p.dft(1).replace("\r", "\n")
    assert len(hl7.parse(lf)) == 1  # python-hl7 splits on CR only (facts §9)
    (block,), _ = split_blocks(lf.encode() + b"\n", final=True)
    assert set(parse_message(block.raw).segments) == {"MSH", "EVN", "PID", "PV1", "FT1", "ZUS"}


def test_batch_envelopes_are_skipped() -> None:
    data = ("FHS|^~\\&|ENGINE\rBHS|^~\\&|ENGINE\r" + p.dft(1) + "BTS|1\rFTS|1\r").encode()
    assert control_ids(data) == ["MSG-FAC01-0000001"]


@pytest.mark.parametrize("segment_end", ["\r", "\n", "\r\n"])
def test_garbage_between_messages_is_its_own_block(segment_end: str) -> None:
    bad = b"\xff\xfegarbage|||" + (b"\n" if segment_end == "\r" else segment_end.encode())
    no_msh = p.dft(9)[p.dft(9).index("EVN"):].replace("\r", segment_end).encode()
    no_msh += b"\n" if segment_end == "\r" else segment_end.encode()
    data = (log_bytes(MESSAGES[:2], segment_end) + bad + no_msh
            + log_bytes(MESSAGES[2:], segment_end))
    blocks, _ = split_blocks(data, final=True)
    good, bad_blocks = [], []
    for block in blocks:
        try:
            good.append(parse_message(block.raw).field("MSH", 10))
        except RecordError as exc:
            bad_blocks.append(exc.reason)
    assert good == EXPECTED  # the neighbours are intact
    assert len(bad_blocks) == 2


@settings(max_examples=150, deadline=None)
# a first read that stops between the CR and the LF of a CR+LF log: its lone CR made the
# log read as CR-segmented, and the first segment as a whole message
@example(segment_end="\r\n", framing="none", cuts=[123])
@given(segment_end=st.sampled_from(["\r", "\n", "\r\n"]),
       framing=st.sampled_from(["none", "framed", "mixed", "wire", "tight"]),
       cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=8))
def test_reading_a_growing_file_in_pieces_gives_each_message_once(
        segment_end: str, framing: str, cuts: list[int]) -> None:
    """Whatever sizes the writer flushes, resuming at the returned offset yields exactly
    the messages of one read of the whole file (and the last one once rotated)."""
    data = log_bytes(MESSAGES, segment_end, framing)
    seen: list[str] = []
    offset = 0
    for size in [*sorted({c % len(data) for c in cuts}), len(data)]:
        if size <= offset:
            continue
        blocks, offset = split_blocks(data[offset:size], offset)
        seen += [parse_message(b.raw).field("MSH", 10) for b in blocks]
    blocks, offset = split_blocks(data[offset:], offset, final=True)  # the file rotated
    seen += [parse_message(b.raw).field("MSH", 10) for b in blocks]
    assert seen == EXPECTED
    assert offset == len(data)


def test_a_tail_without_terminator_waits_unless_final() -> None:
    data = log_bytes(MESSAGES[:2]) + p.dft(3).encode()  # the writer has not ended it yet
    blocks, end = split_blocks(data)
    assert len(blocks) == 2 and end == len(log_bytes(MESSAGES[:2]))
    assert len(split_blocks(data, final=True)[0]) == 3


def test_field_values_agree_with_python_hl7() -> None:
    text = p.dft(7) + "FT1|2|U-2||20261118101600||CR|2780001714|||1|-5.00||FAC01-OR2\r"
    ours = parse_message(text.encode())
    theirs = hl7.parse(text)
    for segment, number, component in [("MSH", 7, 0), ("MSH", 9, 1), ("MSH", 9, 2),
                                       ("MSH", 10, 0), ("MSH", 4, 0), ("PID", 3, 1),
                                       ("PID", 3, 4), ("PV1", 19, 0), ("FT1", 2, 0),
                                       ("FT1", 10, 0)]:
        ref = f"{segment}.F{number}" + (f".R1.C{component}" if component else "")
        assert ours.field(segment, number, component) == str(theirs[ref]), ref
    assert ours.field_all("FT1", 2) == ["U-FAC01-0000007", "U-2"]
    assert hl7.parse_datetime(ours.field("MSH", 7)) is not None


def test_escapes_and_custom_separators() -> None:
    text = "MSH#*~\\&#EHR#FAC01#B#F#20261118101532##DFT*P03#C1\\F\\X#P#2.5\rPID#1##M1*#\r"
    msg = parse_message(text.encode())
    assert msg.field("MSH", 9, 2) == "P03"
    assert msg.field("MSH", 10) == "C1#X"


def test_v27_truncation_character_is_accepted() -> None:
    text = "MSH|^~\\&#|EHR|FAC01|B|F|20261118101532||ACK^P03|A1|P|2.7\rMSA|AA|C1\r"
    assert parse_message(text.encode()).field("MSA", 2) == "C1"


@pytest.mark.parametrize("raw, reason", [
    (b"EVN|P03|20261118\rPID|1", "no MSH"),
    (b"MSH|^^^^|EHR|FAC01\rEVN|1", "encoding characters"),
    (b"MSH|^~\\&|EHR\xff\xfe|FAC01\r", "not UTF-8"),
    (b"MSH", "bad MSH header"),
    (b"MSH|^~\\&|EHR|F\rthis is not a segment\r", "malformed segment"),
])
def test_broken_messages_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_message(raw)


@settings(max_examples=300, deadline=None)
@given(when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
       seconds=st.booleans(), digits=st.integers(0, 4),
       # python-hl7 reads "-0030" as +00:30 (the sign of "-00" is lost); ours is right, so
       # compare only offsets of at least an hour
       offset=st.one_of(st.none(), st.just(0), st.integers(-14 * 60, -60),
                        st.integers(60, 14 * 60)))
def test_timestamps_agree_with_python_hl7(when: datetime, seconds: bool, digits: int,
                                          offset: int | None) -> None:
    text = when.strftime("%Y%m%d%H%M")
    if seconds:
        text += when.strftime("%S")
        if digits:
            text += "." + f"{when.microsecond:06d}"[:digits]
    if offset is not None:
        text += f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    theirs = hl7.parse_datetime(text)
    theirs = theirs.replace(tzinfo=UTC) if theirs.tzinfo is None else theirs
    assert parse_hl7_time(text, "MSH-7") == theirs


def test_a_negative_offset_under_an_hour_keeps_its_sign() -> None:
    assert parse_hl7_time("202601010000-0030", "MSH-7") == datetime(2026, 1, 1, 0, 30,
                                                                    tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-11-18T10:15", "2026", "20261318101500", "",
                                   "20261118", "20261118101532x"])
def test_partial_or_foreign_timestamps_are_refused(value: str) -> None:
    with pytest.raises(RecordError, match="not an HL7 timestamp"):
        parse_hl7_time(value, "MSH-7")
