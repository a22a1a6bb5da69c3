"""MLLP framing and HL7 acknowledgements (pure): bytes off a socket -> message frames,
and the ACK that answers each.

MLLP (HL7 v2 Minimal Lower Layer Protocol, release 2) wraps each message as
``<SB> message <EB><CR>`` (``0x0B``, ``0x1C``, ``0x0D``). ``FrameDecoder`` is fed what a
socket returns, in any pieces, and gives back whole frames only: a connection that drops
mid-frame leaves a partial frame in the decoder, which is dropped with it (it was never
acknowledged, so the sender sends it again). Bytes between frames (keep-alive CR/LF,
junk) are skipped and counted. A frame longer than ``max_bytes`` is cut to its head and
marked, so a sender cannot make the listener hold gigabytes; an ``<SB>`` inside a frame
ends the frame before it as ``cut`` (its end byte never came).

``build_ack`` writes an original-mode acknowledgement (HL7 v2.5.1 2.9.2): MSH with the
sender and receiver swapped, ``ACK^<trigger>^ACK``, its own control id, and
``MSA|<code>|<the message's MSH-10>|<text>``; AE and AR carry an ERR segment with a
table 0357 code. AA: stored. AE: the message was read but its content is rejected
(quarantined). AR: it could not be read as HL7 at all, or Chargeline could not store it
(the store is down: the sender keeps it and sends it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SB = b"\x0b"
EB = b"\x1c"
CR = b"\r"
MAX_FRAME_BYTES = 16 << 20  # a DFT is a few KB; a batch of images would be refused
HEAD_BYTES = 4096  # what is kept of an over-long frame (for its quarantine row)
_BETWEEN_FRAMES = b"\r\n\t \x00"


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame's payload (between SB and EB)."""

    payload: bytes
    oversize: bool = False  # longer than the limit: ``payload`` is its head only
    cut: bool = False  # a new frame started before this one's end byte


class FrameDecoder:
    """Incremental MLLP decoder of one connection's byte stream."""

    __slots__ = ("_buffer", "_dropping", "_in_frame", "_scanned", "junk", "max_bytes")

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._dropping = False  # past max_bytes: skipping to the end byte
        self._scanned = 0  # bytes of the current frame already searched for SB/EB
        self.junk = 0  # bytes between frames that were not whitespace

    @property
    def mid_frame(self) -> bool:
        """True while a frame has started and not ended (a drop now loses it whole)."""
        return self._in_frame

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            if not self._in_frame:
                start = self._buffer.find(SB)
                skipped = self._buffer if start < 0 else self._buffer[:start]
                self.junk += len(bytes(skipped).strip(_BETWEEN_FRAMES))
                if start < 0:
                    self._buffer.clear()
                    break
                del self._buffer[: start + 1]
                self._in_frame, self._scanned = True, 0
                continue
            end = self._buffer.find(EB, self._scanned)
            inner = self._buffer.find(SB, self._scanned, len(self._buffer) if end < 0 else end)
            if inner >= 0:  # the sender started over: what came before never ended
                frames.append(self._take(inner, cut=True))
                continue
            if end < 0:
                self._scanned = len(self._buffer)
                if len(self._buffer) > self.max_bytes and not self._dropping:
                    self._dropping = True
                    del self._buffer[HEAD_BYTES:]
                    self._scanned = len(self._buffer)
                elif self._dropping:
                    del self._buffer[HEAD_BYTES:]
                    self._scanned = len(self._buffer)
                break
            frames.append(self._take(end))
            del self._buffer[:1]  # the EB; its CR is skipped as what lies between frames
        return frames

    def _take(self, end: int, cut: bool = False) -> Frame:
        payload = bytes(self._buffer[:end])
        oversize = self._dropping or len(payload) > self.max_bytes
        del self._buffer[:end]
        self._in_frame, self._dropping, self._scanned = False, False, 0
        return Frame(payload[:HEAD_BYTES] if oversize else payload, oversize, cut)


def frame(message: bytes) -> bytes:
    """``message`` wrapped for the wire."""
    return SB + message + EB + CR


# HL7 table 0357 (message error condition codes) for an ACK's ERR-3
ERR_SEGMENT_SEQUENCE = "100^Segment sequence error"
ERR_REQUIRED_FIELD = "101^Required field missing"
ERR_DATA_TYPE = "102^Data type error"
ERR_INTERNAL = "207^Application internal error"


def error_condition(reason: str) -> str:
    """The table 0357 code and text that best name a quarantine reason."""
    low = reason.lower()
    if "truncated" in low or "required" in low or "empty" in low or " without " in low:
        return ERR_REQUIRED_FIELD
    if "date" in low or "time" in low or "utf-8" in low or "bound" in low or "width" in low:
        return ERR_DATA_TYPE
    if "segment" in low or "msh" in low or "hl7" in low:
        return ERR_SEGMENT_SEQUENCE
    return ERR_INTERNAL


@dataclass(frozen=True, slots=True)
class Header:
    """What an ACK echoes of the message's MSH (empty when it has none)."""

    sending_app: str = ""
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5.1"


def read_header(payload: bytes) -> Header:
    """The MSH fields an ACK needs, read leniently (a message rejected for its content
    still gets an ACK naming it); ``Header()`` when there is no readable MSH."""
    text = payload.decode("utf-8", "replace")
    for start in (0, text.find("MSH")):
        if start >= 0 and text.startswith("MSH", start) and len(text) > start + 8:
            break
    else:
        return Header()
    first = text[start:].replace("\n", "\r").split("\r", 1)[0]
    sep = first[3]
    if sep.isalnum() or sep.isspace():
        return Header()
    fields = first.split(sep)  # fields[n] is MSH-(n+1)
    component = fields[1][:1] if len(fields) > 1 and fields[1] else "^"

    def get(number: int, whole: bool = False) -> str:
        value = fields[number - 1] if number - 1 < len(fields) else ""
        return value if whole else value.split(component)[0]

    kind = get(9, whole=True).split(component)
    return Header(get(3), get(4), get(5), get(6), kind[1] if len(kind) > 1 else "",
                  get(10), get(11) or "P", get(12) or "2.5.1")


def _escape(text: str) -> str:
    """ER7-escape ``text`` for the standard encoding characters ``|^~\\&``."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    return out.replace("~", "\\R\\").replace("&", "\\T\\").replace("\r", " ").replace("\n", " ")


def build_ack(header: Header, code: str, *, control_id: str, text: str = "",
              now: datetime | None = None, error: str = "") -> bytes:
    """The acknowledgement of a message whose MSH is ``header``: MSA-1 ``code`` (AA, AE
    or AR), MSA-2 its control id, MSA-3 ``text`` (80 characters at most); with ``error``
    (table 0357 ``code^text``) an ERR segment."""
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    e = _escape
    msh = "|".join(["MSH", "^~\\&", e(header.receiving_app), e(header.receiving_facility),
                    e(header.sending_app), e(header.sending_facility), at, "",
                    f"ACK^{e(header.trigger)}^ACK" if header.trigger else "ACK",
                    e(control_id)[:20], e(header.processing_id)[:3] or "P",
                    e(header.version)[:8] or "2.5.1"])
    segments = [msh, "|".join(["MSA", code, e(header.control_id), e(text)[:80]])]
    if error and code != "AA":
        number, _, name = error.partition("^")
        segments.append(f"ERR|||{number}^{e(name)}^HL70357|E")
    return ("\r".join(segments) + "\r").encode("utf-8")
