"""HL7 v2 rendering: DFT^P03 and ADT^A04/A08 messages, their ACKs, and broken messages.

Segments end with CR; a message (framed or not) is followed by LF in the log file.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simulator.records import Malformed, Message
from simulator.timefmt import hl7_ts

_START, _END = b"\x0b", b"\x1c\r"
# How a message writes a time (epoch ms): ``hl7_ts`` (UTC, ``+0000``) unless a rendering
# says otherwise (simulator.rendering: the facility's offset, same length).
TimeWriter = Callable[[int], str]
_NACK_TEXT = {
    "AE": "Encounter not found in billing system",
    "AR": "Message rejected: account locked for billing",
}


def _msh(sender: str, receiver: str, fac: str, ms: int, event: str, control: str,
         ts: TimeWriter) -> str:
    return f"MSH|^~\\&|{sender}|{fac}|{receiver}|{fac}|{ts(ms)}||{event}|{control}|P|2.5.1"


def _pid(msg: Message) -> str:
    p = msg.encounter.patient
    return f"PID|1||{p.mrn}^^^{msg.facility_id}^MR||{p.family}^{p.given}||{p.birth_date}|{p.sex}"


def _pv1(msg: Message, ts: TimeWriter, admit: bool = False, discharge: bool = False) -> str:
    enc = msg.encounter
    cls = {"IMP": "I", "AMB": "O", "EMER": "E"}[enc.encounter_class]
    fields = ["PV1", "1", cls, enc.location_id] + [""] * 15 + [enc.encounter_id]
    if admit or discharge:
        fields += [""] * 24 + [ts(enc.start_ms), ts(enc.end_ms) if discharge else ""]
    return "|".join(fields)


def _frame(text: str, framed: bool, end: bytes = b"\n") -> bytes:
    body = text.encode("utf-8")
    return (_START + body + _END + end) if framed else (body + end)


def render_message(msg: Message, ts: TimeWriter = hl7_ts) -> bytes:
    """The inbound message as it appears in the log (MLLP frame kept when captured so)."""
    segs = [_msh("EHR" if msg.event.startswith("DFT") else "REG", "BILLING" if
                 msg.event.startswith("DFT") else "ENGINE", msg.facility_id, msg.received_ms,
                 msg.event, msg.control_id, ts)]
    if msg.event == "DFT^P03":
        segs.append(f"EVN|P03|{ts(msg.received_ms)}")
        segs.append(_pid(msg))
        segs.append(_pv1(msg, ts))
        for n, u in enumerate(msg.usages, start=1):
            cdm = msg.cdm_codes[n - 1]
            amount = msg.amounts[n - 1]
            amt = f"{amount:.2f}" if amount is not None else ""
            segs.append(f"FT1|{n}|{u.usage_id}||{ts(u.used_ms)}||CG|{cdm}|||{u.quantity}"
                        f"|{amt}||{u.location_id}")
            segs.append(f"ZUS|{n}|{u.usage_id}|{u.item_ref}|{u.uom}|{u.lot}|{u.serial}")
    else:
        code = msg.event.split("^")[1]
        segs.append(f"EVN|{code}|{ts(msg.received_ms)}")
        segs.append(_pid(msg))
        segs.append(_pv1(msg, ts, admit=code == "A04", discharge=code == "A08"))
    return _frame("\r".join(segs) + "\r", msg.framed)


def render_ack(msg: Message, ts: TimeWriter = hl7_ts, crlf: bool = False) -> bytes:
    """The ACK the receiving system returned for ``msg`` (MSH-7 = sent time); ``crlf``
    ends it with CR LF instead of LF (a receiver whose log lines end the Windows way)."""
    assert msg.ack_ms is not None
    trigger = msg.event.split("^")[1]
    segs = [_msh("BILLING" if trigger == "P03" else "ENGINE", "EHR" if trigger == "P03"
                 else "REG", msg.facility_id, msg.ack_ms, f"ACK^{trigger}",
                 f"ACK-{msg.control_id}", ts)]
    if msg.ack_code == "AA":
        segs.append(f"MSA|AA|{msg.control_id}")
    else:
        text = msg.ack_text or _NACK_TEXT[msg.ack_code]
        segs.append(f"MSA|{msg.ack_code}|{msg.control_id}|{text}")
        segs.append(f"ERR|||207^Application internal error^HL70357|E||||{text}")
    return _frame("\r".join(segs) + "\r", msg.framed, b"\r\n" if crlf else b"\n")


def nack_text(code: str) -> str:
    """The error text billing puts in MSA-3 / ERR-8 for a NACK code."""
    return _NACK_TEXT[code]


def make_malformed(rng: random.Random, after: Message, control_id: str, reason: str) -> Malformed:
    """A broken message modelled on ``after``: truncated inside PID, missing MSH,
    bad encoding characters, or garbage (including bytes that are not UTF-8)."""
    if reason == "garbage":
        noise = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789|^~ ") for _ in range(60))
        payload = b"\xff\xfe" + noise + b"\r\n"
    else:
        payload = broken_copy(after, control_id, reason)
    return Malformed(control_id, after.channel, after.facility_id, reason, after.received_ms,
                     payload)


def broken_copy(after: Message, control_id: str, reason: str,
                ts: TimeWriter = hl7_ts) -> bytes:
    """The bytes of a ``truncated``, ``no_msh`` or ``bad_encoding`` message modelled on
    ``after`` rendered with ``ts`` (a rendering re-breaks its own copy; the same length)."""
    good = render_message(after, ts).replace(after.control_id.encode(), control_id.encode())
    if good.startswith(_START):
        good = good[1:-3] + b"\n"
    if reason == "truncated":
        cut = good.index(b"PID|") + 12
        return good[:cut] + b"\n"
    if reason == "no_msh":
        return good[good.index(b"\r") + 1:]
    if reason == "bad_encoding":
        return good.replace(b"MSH|^~\\&|", b"MSH|^^^^|", 1)
    raise ValueError(f"no broken copy for reason {reason!r}")
