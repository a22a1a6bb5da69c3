"""Whether a message is whole, from its structure alone (collectors/hl7_structure.py)."""

from __future__ import annotations

import pytest

from collectors.hl7_parse import parse_message
from collectors.hl7_structure import check_whole
from core.errors import RecordError

MSH = "MSH|^~\\&|REG|FAC01|ENGINE|FAC01|20261118101000||{event}|C1|P|2.5.1"
EVN = "EVN|A04|20261118101000"
PID = "PID|1||MRN1^^^FAC01^MR||DOE^JANE"
PV1 = "PV1|1|I|FAC01-OR1"


def judge(*segments: str, event: str = "ADT^A04", cut: bool = False) -> str:
    """The reason a message is not whole, or "" when it is."""
    text = "\r".join([MSH.format(event=event), *segments])
    try:
        check_whole(parse_message(text.encode()), cut)
    except RecordError as exc:
        return exc.reason
    return ""


@pytest.mark.parametrize(("segments", "event", "word"), [
    ((EVN, PID, PV1), "ADT^A04", ""),
    ((EVN, PID), "ADT^A08", "PV1 segment"),            # cut at a segment boundary
    ((EVN, PID, "PV1|1"), "ADT^A04", "PV1-2"),         # cut inside PV1
    ((EVN, "PID|1||MRN1^^^FA"), "ADT^A04", "PID-5"),    # cut inside PID
    ((EVN, PID, "MRG|MRN0"), "ADT^A40", ""),            # a merge carries no visit
    ((EVN, PID, PV1, "FT1|1|U1||20261118"), "DFT^P03", "FT1-6"),
    ((EVN, PID, PV1), "DFT^P03", "FT1 segment"),
    (("MSA|AA",), "ACK^P03", "MSA-2"),
    (("MSA|AA|C0",), "ACK^P03", ""),
    ((), "ADT^A04", "EVN, PID, PV1 segments"),
    (("ZUS|1|U1|IT",), "ORM^O01", ""),                  # unknown types: not judged
])
def test_required_segments_and_the_last_segments_required_fields(
        segments: tuple[str, ...], event: str, word: str) -> None:
    reason = judge(*segments, event=event)
    assert (word in reason and reason.startswith("truncated")) if word else reason == ""


def test_a_message_cut_by_the_next_one_and_a_header_alone() -> None:
    assert "inside its last segment (PID)" in judge(EVN, "PID|1||MR", cut=True)
    only_header = parse_message(b"MSH|^~\\&|REG|FAC01|ENGINE|FA")
    with pytest.raises(RecordError, match="MSH-7"):
        check_whole(only_header)


def test_reasons_never_quote_field_text() -> None:
    reason = judge(EVN, "PID|1||MRN1^^^FAC01^MR||QUILLFEATHER^ZEPHYRINA", PV1, "FT1|1",
                   event="DFT^P03")
    assert "FT1-4" in reason and "QUILLFEATHER" not in reason and "MRN1" not in reason
