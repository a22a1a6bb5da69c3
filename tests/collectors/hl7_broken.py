"""HL7 v2 logs with broken messages between good ones, as interface engines really write
them: a message cut short (the next one starting inside its PID, the line ending inside
its FT1, the file ending inside its PID, an ADT cut inside PV1), wrong encoding
characters in MSH-2, a frame without MSH, binary garbage. Each log knows where its bad
messages start, so a test can check every quarantine position.

Written by hand, not with the simulator's ``make_malformed``: the collector must judge
messages from other systems by their structure, not by the simulator's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.collectors import payloads as p

ADT = (
    "MSH|^~\\&|REG|FAC01|ENGINE|FAC01|20261118101000+0000||ADT^A04|{control}|P|2.5.1\r"
    "EVN|A04|20261118101000+0000\r"
    "PID|1||MRN0012345^^^FAC01^MR||DOE^JANE||19700101|F\r"
    "PV1|1|I|FAC01-OR1||||||||||||||||ENC-FAC01-000045\r"
)


def bad_dft(n: int) -> str:
    """A DFT whose control id says it must never be stored (``BAD-...``)."""
    return p.dft(n).replace(f"MSG-FAC01-{n:07d}", f"BAD-FAC01-{n:07d}")


def cut_inside(message: str, segment: str, keep: int) -> str:
    """``message`` cut ``keep`` characters into its ``segment`` segment."""
    return message[: message.index(f"\r{segment}|") + 1 + keep]


@dataclass
class BrokenLog:
    """A log's bytes, the control ids of its good messages, and the offset and expected
    reason word of each bad one."""

    data: bytes = b""
    good: list[str] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)  # offset -> a word of the reason
    bad_raw: dict[int, bytes] = field(default_factory=dict)


def broken_log(segment_end: str = "\r", first: int = 1) -> BrokenLog:
    """Good DFTs with their ACKs, and between them each broken shape. ``segment_end``
    "\\r" gives the usual log (a message a line); "\\n" a log whose segments end with LF
    and whose messages are separated by a blank line."""
    log = BrokenLog()
    after = "\n" if segment_end == "\r" else "\n\n"

    def text(message: str) -> bytes:
        return message.replace("\r", segment_end).encode()

    def good(n: int) -> None:
        log.data += text(p.dft(n)) + after.encode() + text(p.ack(n)) + after.encode()
        log.good.append(f"MSG-FAC01-{n:07d}")

    def bad(raw: bytes, word: str, separator: bytes | None = None) -> None:
        log.bad[len(log.data)] = word
        log.bad_raw[len(log.data)] = raw
        log.data += raw + (after.encode() if separator is None else separator)

    n = first
    good(n)
    # the writer stopped inside PID and the next message follows at once, on that line
    bad(text(cut_inside(bad_dft(n + 100), "PID", 12)), "truncated", separator=b"")
    good(n + 1)
    # the line ends inside FT1, before its required fields
    bad(text(cut_inside(bad_dft(n + 101), "FT1", 20)), "truncated")
    good(n + 2)
    # MSH-2 with wrong encoding characters
    bad(text(bad_dft(n + 102).replace("MSH|^~\\&|", "MSH|^^^^|", 1)), "encoding")
    good(n + 3)
    # a frame without its MSH
    bad(text(bad_dft(n + 103).split("\r", 1)[1]), "no MSH")
    good(n + 4)
    # binary garbage, not UTF-8
    bad(b"\xff\xfe\x00\x17GARBAGE|^~ 0042\x80\x81 ZZ|\x9c\xe2", "UTF-8",
        separator=b"\r\n" + (b"\n" if segment_end == "\n" else b""))
    good(n + 5)
    # an ADT^A04 cut inside PV1, before PV1-2; then an ACK naming a broken message
    bad(text(cut_inside(ADT.format(control=f"BAD-FAC01-{n + 104:07d}"), "PV1", 5)),
        "truncated")
    log.data += text(p.ack(n + 100).replace("MSG-", "BAD-")) + after.encode()
    good(n + 6)
    # a message cut at a segment boundary: no FT1
    bad(text(cut_inside(bad_dft(n + 105), "FT1", 0)), "truncated")
    good(n + 7)
    # and the file ends inside a PID (a writer that died; read once the file is complete)
    bad(text(cut_inside(bad_dft(n + 106), "PID", 15)), "truncated", separator=b"")
    return log
