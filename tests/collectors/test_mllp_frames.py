"""MLLP framing and HL7 ACKs (pure): frames out of a byte stream cut anywhere, junk
between frames skipped, over-long and cut frames marked; ACKs that name the message."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest

from collectors.mllp_frames import (
    EB,
    SB,
    FrameDecoder,
    Header,
    build_ack,
    error_condition,
    frame,
    read_header,
)
from tests.collectors import payloads as p

MESSAGES = [p.dft(1).encode(), p.ack(1).encode(), p.dft(2).encode()]
STREAM = b"".join(frame(m) for m in MESSAGES)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, len(STREAM)])
def test_frames_come_out_whole_whatever_the_pieces(size: int) -> None:
    decoder = FrameDecoder()
    out = []
    for start in range(0, len(STREAM), size):
        out += decoder.feed(STREAM[start:start + size])
    assert [f.payload for f in out] == MESSAGES
    assert not any(f.oversize or f.cut for f in out)
    assert not decoder.mid_frame and decoder.junk == 0


def test_a_partial_frame_is_held_not_given() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(SB + MESSAGES[0][:30]) == []
    assert decoder.mid_frame and decoder.pending_bytes == 30


def test_bytes_between_frames_are_skipped_and_junk_counted() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(b"\r\n  " + frame(MESSAGES[0]) + b"garbage" + frame(MESSAGES[1]))
    assert [f.payload for f in frames] == MESSAGES[:2]
    assert decoder.junk == len(b"garbage")


def test_a_new_start_byte_inside_a_frame_cuts_the_frame_before_it() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(SB + MESSAGES[0][:40] + frame(MESSAGES[1]))
    assert [(f.payload, f.cut) for f in frames] == [(MESSAGES[0][:40], True),
                                                    (MESSAGES[1], False)]


def test_an_over_long_frame_keeps_its_head_and_the_stream_goes_on() -> None:
    decoder = FrameDecoder(max_bytes=10_000)
    big = b"MSH|" + b"x" * 50_000
    frames = []
    for start in range(0, len(big), 4096):
        frames += decoder.feed((SB if start == 0 else b"") + big[start:start + 4096])
        assert decoder.pending_bytes <= 10_000 + 4096
    frames += decoder.feed(EB + b"\r" + frame(MESSAGES[0]))
    assert frames[0].oversize and frames[0].payload == big[:4096]
    assert frames[1].payload == MESSAGES[0] and not frames[1].oversize


def test_the_ack_names_the_message_and_swaps_sender_and_receiver() -> None:
    header = read_header(MESSAGES[0])
    ack = build_ack(header, "AA", control_id="CL1",
                    now=datetime(2026, 11, 18, 10, 15, 33, tzinfo=UTC))
    parsed = hl7.parse(ack.decode())
    assert str(parsed.segment("MSA")[1]) == "AA"
    assert str(parsed.segment("MSA")[2]) == "MSG-FAC01-0000001"
    msh = parsed.segment("MSH")
    assert [str(msh[i]) for i in (3, 4, 5, 6)] == ["BILLING", "FAC01", "EHR", "FAC01"]
    assert str(msh[7]) == "20261118101533+0000"
    assert str(msh[9]) == "ACK^P03^ACK" and str(msh[10]) == "CL1"
    assert str(msh[12]) == "2.5"
    with pytest.raises(KeyError):
        parsed.segment("ERR")  # an AA carries no error


def test_an_error_ack_escapes_its_text_and_carries_err() -> None:
    ack = build_ack(read_header(MESSAGES[0]), "AE", control_id="CL2",
                    text="a DFT^P03 message | cut", error=error_condition("truncated: x"))
    parsed = hl7.parse(ack.decode())
    text = str(parsed.segment("MSA")[3])
    assert parsed.unescape(text) == "a DFT^P03 message | cut"  # escaped, one field
    assert str(parsed.segment("ERR")[3][0][0]) == "101"


@pytest.mark.parametrize("payload", [b"", b"hello", b"\xff\xfe", b"PID|1", b"MSH"])
def test_a_message_without_a_readable_header_still_gets_an_ack(payload: bytes) -> None:
    header = read_header(payload)
    assert header == Header()
    parsed = hl7.parse(build_ack(header, "AR", control_id="CL3", text="not HL7").decode())
    assert str(parsed.segment("MSA")[1]) == "AR" and str(parsed.segment("MSA")[2]) == ""


@pytest.mark.parametrize(("reason", "code"), [
    ("truncated: its last segment PID ends before PID-5, a required field", "101"),
    ("MSH-7 (date/time of message) is empty", "101"),
    ("not UTF-8 text (byte 3): check the log encoding", "102"),
    ("malformed segment: segment 2 of the message does not start with a segment ID", "100"),
    ("could not be read: ValueError", "207"),
])
def test_reasons_map_to_table_0357(reason: str, code: str) -> None:
    assert error_condition(reason).split("^")[0] == code
