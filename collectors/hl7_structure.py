"""Is a parsed HL7 v2 message whole? Truncation judged from the message's structure (pure).

A message cut short — the log ends, or the next message starts, in the middle of it —
still parses: its segments are well formed up to the cut. What gives it away is what
HL7 requires of it, whichever system wrote the log:

- the segments its structure requires (a DFT^P03 has EVN, PID, PV1 and FT1; an
  ADT^A04/A08 EVN, PID and PV1; an ACK its MSA);
- the required fields of its last segment, the one a cut goes through (``PID|1||MRN00``
  ends before PID-5, the patient name);
- the next message starting inside its last segment (``Block.cut``, found by the splitter).

Required means HL7 v2.5.1's optionality R, for the segments Chargeline reads (PV1 on a
DFT too: it carries the encounter). Segments of other kinds (Z-segments, ERR, whose
required fields changed between versions) are not judged, so a cut after every required
field of the last segment, or inside a Z-segment, is not seen here. The reasons name
segment IDs and field numbers only, never a value (they are stored in clear).
"""

from __future__ import annotations

from collectors.hl7_parse import Hl7Message
from core.errors import RecordError

# Segments each message structure requires, by message type, then by type^trigger.
_SEGMENTS: dict[str, tuple[str, ...]] = {
    "DFT": ("EVN", "PID", "PV1", "FT1"),
    "ADT": ("EVN", "PID"),  # merges and links (A18, A30, A40 ...) carry no visit
    "ACK": ("MSA",),
}
# ADT triggers about a visit, whose structures require PV1.
_ADT_VISIT = frozenset(
    [f"A{n:02d}" for n in range(1, 18)]
    + ["A21", "A22", "A23", "A25", "A26", "A27", "A28", "A29", "A31", "A32", "A33", "A38",
       "A50", "A51", "A52", "A53", "A54", "A55", "A61", "A62"])
_BY_TRIGGER: dict[tuple[str, str], tuple[str, ...]] = {
    ("ADT", trigger): ("EVN", "PID", "PV1") for trigger in _ADT_VISIT}
_BY_TRIGGER["ADT", "A20"] = ("EVN",)  # a bed status update names no patient

# Required fields (HL7 v2.5.1 optionality R) of the segments whose cut is judged.
REQUIRED_FIELDS: dict[str, tuple[int, ...]] = {
    "MSH": (2, 7, 9, 10, 11, 12),
    "EVN": (2,),
    "PID": (3, 5),
    "PV1": (2,),
    "FT1": (4, 6, 7),
    "MSA": (1, 2),
}


def required_segments(kind: str, trigger: str) -> tuple[str, ...]:
    """The segments a message of type ``kind^trigger`` must carry (besides MSH)."""
    return _BY_TRIGGER.get((kind, trigger)) or _SEGMENTS.get(kind, ())


def first_missing_field(segment: str, field_sep: str) -> int | None:
    """The first required field ``segment`` lacks (absent or empty), or None."""
    name = segment[:3]
    required = REQUIRED_FIELDS.get(name)
    if not required:
        return None
    fields = segment.split(field_sep)
    shift = 1 if name == "MSH" else 0  # MSH-1 is the field separator itself
    for number in required:
        position = number - shift
        if position >= len(fields) or not fields[position].strip():
            return number
    return None


def check_whole(msg: Hl7Message, cut: bool = False) -> None:
    """Raise ``RecordError`` (its reason starting "truncated") unless ``msg`` is whole."""
    last_id = msg.last[:3]
    if cut:
        raise RecordError(f"truncated: the next message starts inside its last segment "
                          f"({last_id})")
    missing_field = first_missing_field(msg.last, msg.field_sep)
    if missing_field is not None:
        raise RecordError(f"truncated: its last segment {last_id} ends before "
                          f"{last_id}-{missing_field}, a required field")
    kind, trigger = msg.field("MSH", 9, 1), msg.field("MSH", 9, 2)
    missing = [s for s in required_segments(kind, trigger) if s not in msg.segments]
    if missing:
        event = (f"{kind}^{trigger}" if trigger else kind)[:20]
        raise RecordError(f"truncated: a {event} message without its required "
                          f"{', '.join(missing)} segment{'s' if len(missing) > 1 else ''}")
