"""HL7 v2 rendering: DFT^P03 and ADT^A04/A08 messages, their ACKs, and broken messages.

Segments end with CR; a message (framed or not) is followed by LF in the log file.
"""

from __future__ import annotations

import random

from simulator.records import Malformed, Message
from simulator.timefmt import hl7_ts

_START, _END = b"\x0b", b"\x1c\r"
_NACK_TEXT = {
    "AE": "Encounter not found in billing system",
    "AR": "Message rejected: account locked for billing",
}


def _msh(sender: str, receiver: str, fac: str, ms: int, event: str, control: str) -> str:
    return f"MSH|^~\\&|{sender}|{fac}|{receiver}|{fac}|{hl7_ts(ms)}||{event}|{control}|P|2.5.1"


def _pid(msg: Message) -> str:
    p = msg.encounter.patient
    return f"PID|1||{p.mrn}^^^{msg.facility_id}^MR||{p.family}^{p.given}||{p.birth_date}|{p.sex}"


def _pv1(msg: Message, admit: bool = False, discharge: bool = False) -> str:
    enc = msg.encounter
    cls = {"IMP": "I", "AMB": "O", "EMER": "E"}[enc.encounter_class]
    fields = ["PV1", "1", cls, enc.location_id] + [""] * 15 + [enc.encounter_id]
    if admit or discharge:
        fields += [""] * 24 + [hl7_ts(enc.start_ms), hl7_ts(enc.end_ms) if discharge else ""]
    return "|".join(fields)


def _frame(text: str, framed: bool) -> bytes:
    body = text.encode("utf-8")
    return (_START + body + _END + b"\n") if framed else (body + b"\n")


def render_message(msg: Message) -> bytes:
    """The inbound message as it appears in the log (MLLP frame kept when captured so)."""
    segs = [_msh("EHR" if msg.event.startswith("DFT") else "REG", "BILLING" if
                 msg.event.startswith("DFT") else "ENGINE", msg.facility_id, msg.received_ms,
                 msg.event, msg.control_id)]
    if msg.event == "DFT^P03":
        segs.append(f"EVN|P03|{hl7_ts(msg.received_ms)}")
        segs.append(_pid(msg))
        segs.append(_pv1(msg))
        for n, u in enumerate(msg.usages, start=1):
            cdm = msg.cdm_codes[n - 1]
            amount = msg.amounts[n - 1]
            amt = f"{amount:.2f}" if amount is not None else ""
            segs.append(f"FT1|{n}|{u.usage_id}||{hl7_ts(u.used_ms)}||CG|{cdm}|||{u.quantity}"
                        f"|{amt}||{u.location_id}")
            segs.append(f"ZUS|{n}|{u.usage_id}|{u.item_ref}|{u.uom}|{u.lot}|{u.serial}")
    else:
        code = msg.event.split("^")[1]
        segs.append(f"EVN|{code}|{hl7_ts(msg.received_ms)}")
        segs.append(_pid(msg))
        segs.append(_pv1(msg, admit=code == "A04", discharge=code == "A08"))
    return _frame("\r".join(segs) + "\r", msg.framed)


def render_ack(msg: Message) -> bytes:
    """The ACK the receiving system returned for ``msg`` (MSH-7 = sent time)."""
    assert msg.ack_ms is not None
    trigger = msg.event.split("^")[1]
    segs = [_msh("BILLING" if trigger == "P03" else "ENGINE", "EHR" if trigger == "P03"
                 else "REG", msg.facility_id, msg.ack_ms, f"ACK^{trigger}",
                 f"ACK-{msg.control_id}")]
    if msg.ack_code == "AA":
        segs.append(f"MSA|AA|{msg.control_id}")
    else:
        text = msg.ack_text or _NACK_TEXT[msg.ack_code]
        segs.append(f"MSA|{msg.ack_code}|{msg.control_id}|{text}")
        segs.append(f"ERR|||207^Application internal error^HL70357|E||||{text}")
    return _frame("\r".join(segs) + "\r", msg.framed)


def nack_text(code: str) -> str:
    """The error text billing puts in MSA-3 / ERR-8 for a NACK code."""
    return _NACK_TEXT[code]


def make_malformed(rng: random.Random, after: Message, control_id: str, reason: str) -> Malformed:
    """A broken message modelled on ``after``: truncated inside PID, missing MSH,
    bad encoding characters, or garbage (including bytes that are not UTF-8)."""
    good = render_message(after).replace(after.control_id.encode(), control_id.encode())
    if good.startswith(_START):
        good = good[1:-3] + b"\n"
    if reason == "truncated":
        cut = good.index(b"PID|") + 12
        payload = good[:cut] + b"\n"
    elif reason == "no_msh":
        payload = good[good.index(b"\r") + 1:]
    elif reason == "bad_encoding":
        payload = good.replace(b"MSH|^~\\&|", b"MSH|^^^^|", 1)
    else:
        noise = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789|^~ ") for _ in range(60))
        payload = b"\xff\xfe" + noise + b"\r\n"
    return Malformed(control_id, after.channel, after.facility_id, reason, after.received_ms,
                     payload)
