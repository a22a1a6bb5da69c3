"""HL7 v2 messages -> canonical ``InterfaceMessage`` records (pure).

Each inbound message is paired with the ACK that follows it in the log: MSH-7 of the
inbound message is when the engine received it, MSH-7 of the ACK when the receiver
acknowledged it (sent), MSA-1 the ACK code. No ACK yet means queued. An ACK whose
message was stored by an earlier read comes back as a ``LateAck`` for the store to
apply. A message re-sent after a NACK carries ``<control id>-R<n>``.

A message is known by its facility (MSH-4, "" when empty) and control id: two
facilities' engines may both log to a channel of the same name, with control ids that
repeat. An ACK names its message's facility as its receiving facility (MSH-6); it pairs
with the message of that facility and control id, else with the one message of that
control id when only one is waiting (an ACK without MSH-6, or one that spells the
facility otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.data.bounds import check_ack_values
from collectors.hl7_parse import Block, Hl7Message, parse_hl7_time, parse_message
from collectors.hl7_structure import check_whole
from collectors.mapping import RecordMapping, compile_path
from collectors.rejects import unexpected_reason
from collectors.udi import apply_udi
from core.errors import RecordError
from core.model import InterfaceMessage, MessageStatus, UsageEvent, build_record
from core.phi import patient_token
from store.bounds import check_record

_RESEND = re.compile(r"^(.+)-R\d+$")
_HL7_REF = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?$")
_ACK_STATUS = {"AA": MessageStatus.SENT, "CA": MessageStatus.SENT,
               "AE": MessageStatus.ERROR, "AR": MessageStatus.ERROR,
               "CE": MessageStatus.ERROR, "CR": MessageStatus.ERROR}


@dataclass(slots=True, frozen=True)
class LateAck:
    """An acknowledgement for a message stored by an earlier read."""

    control_id: str
    sent_at: datetime
    ack_code: str
    error: str
    facility_id: str = ""  # the ACK's MSH-6: the acknowledged message's facility


@dataclass(slots=True)
class Rejected:
    position: str
    reason: str
    raw: bytes


@dataclass(slots=True)
class Hl7Batch:
    """What one read of a log produced."""

    messages: list[InterfaceMessage] = field(default_factory=list)
    usages: list[UsageEvent] = field(default_factory=list)  # from DFT FT1, when enabled
    late_acks: list[LateAck] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _list_getter(spec: Any) -> Any:
    """``usage_ids: FT1-2`` means FT1-2 of every FT1 segment."""
    match = _HL7_REF.match(spec) if isinstance(spec, str) else None
    if match:
        seg, num, comp = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        return lambda msg: [v for v in msg.field_all(seg, num, comp) if v]
    getter = compile_path(spec)
    return lambda msg: [v for v in [getter(msg)] if v]


class Hl7Converter:
    """Turns message blocks of one channel into canonical records, per a mapping."""

    def __init__(self, mappings: dict[str, RecordMapping], channel: str, phi_secret: str,
                 source: str = "") -> None:
        self.message = RecordMapping("message", {
            "fields": {k: v for k, v in mappings["message"].raw_fields.items()
                       if k != "usage_ids"}})
        self.ack = mappings["ack"]
        self.usage_ids = _list_getter(mappings["message"].raw_fields.get("usage_ids", "FT1-2"))
        usage = mappings.get("usage")
        self.usage = usage if usage is not None and usage.options.get("enabled") else None
        self.charge_types = frozenset(
            str(t) for t in (usage.options.get("charge_types") or ["CG"])) if usage else frozenset()
        self.channel = channel
        self.secret = phi_secret
        self.source = source

    def convert(self, blocks: Iterable[Block], file_label: str) -> Hl7Batch:
        """Pair messages with ACKs and build records; bad blocks are rejected, not raised."""
        batch = Hl7Batch()
        pending = _Waiting()
        for block in blocks:
            where = f"{file_label}@{block.offset}"
            try:
                msg = parse_message(block.raw)
                check_whole(msg, block.cut)  # a message cut short is never stored
                kind = msg.field("MSH", 9, 1)
                if kind == "ACK":
                    self._apply_ack(msg, pending, batch, where)
                else:
                    data = self._inbound(msg, where)
                    data["_raw"] = block.raw
                    pending.add(data)
            except RecordError as exc:
                batch.rejected.append(Rejected(where, exc.reason, block.raw))
            except Exception as exc:  # one message, never its log (collectors.rejects)
                batch.rejected.append(Rejected(where, unexpected_reason(exc, where),
                                               block.raw))
        for data in pending.messages.values():
            self._emit(data, batch)
        return batch

    def _inbound(self, msg: Hl7Message, where: str) -> dict[str, Any]:
        values = self.message.apply(msg)
        kind = msg.field("MSH", 9, 1)
        control_id = values.get("control_id", "")
        if not control_id:
            raise RecordError("MSH-10 (message control id) is empty")
        trigger = msg.field("MSH", 9, 2)
        values["message_type"] = f"{kind}^{trigger}" if trigger else kind
        if not values.get("received_at"):
            raise RecordError("MSH-7 (date/time of message) is empty")
        values["received_at"] = parse_hl7_time(values["received_at"], "MSH-7")
        usage_ids = tuple(self.usage_ids(msg))
        if kind == "DFT" and not usage_ids:
            raise RecordError("DFT message whose FT1 segments carry no transaction id (FT1-2)")
        values["usage_ids"] = usage_ids
        token = patient_token(self.secret, values.pop("_mrn", ""), values.pop("_authority", ""))
        values["patient_token"] = token
        resend = _RESEND.match(control_id)
        values["resend_of"] = resend.group(1) if resend else ""
        if self.usage is not None and kind == "DFT":
            values["_usages"] = self._usages(msg, token, where)
        values["status"] = MessageStatus.QUEUED
        values["channel"] = self.channel
        values["_where"] = where
        return values

    def _apply_ack(self, msg: Hl7Message, pending: _Waiting,
                   batch: Hl7Batch, where: str) -> None:
        values = self.ack.apply(msg)
        acked = values.get("acked_control_id", "")
        code = values.get("ack_code", "")
        if not acked or not code:
            raise RecordError("ACK without MSA-1 (code) or MSA-2 (control id acknowledged)")
        sent_at = parse_hl7_time(values.get("sent_at", ""), "ACK MSH-7")
        error = values.get("error", "") if code not in ("AA", "CA") else ""
        facility = values.get("facility_id", "")
        # the ACK's values go into an acknowledged message's row or hl7_early_acks: an
        # over-long one (a whole HD in MSH-6, a junk MSA-1) is this ACK's reject alone
        check_ack_values({"ack_code": code, "control_id": acked, "facility_id": facility,
                          "error": error}, where)
        inbound = pending.find(facility, acked)
        if inbound is None:
            batch.late_acks.append(LateAck(acked, sent_at, code, error, facility))
            return
        inbound.update(sent_at=sent_at, ack_code=code, error=error,
                       status=_ACK_STATUS.get(code, MessageStatus.ERROR))

    def _usages(self, msg: Hl7Message, token: str, where: str
                ) -> list[UsageEvent | Rejected]:
        """One usage event per charge FT1 (a DFT^P03 from the EHR carries the scan)."""
        assert self.usage is not None
        out: list[UsageEvent | Rejected] = []
        for index in range(len(msg.segments.get("FT1", ()))):
            if msg.field("FT1", 6, 0, index) not in self.charge_types:
                continue  # a credit (CR) reverses a charge; it is not a scan
            view = _Repeat(msg, index)
            values = self.usage.apply(view)
            values["patient_token"] = token
            values.pop("_mrn", None)
            values.pop("_authority", None)
            values["source"] = "hl7"
            at = f"{where}#FT1[{index + 1}]"
            try:
                apply_udi(values, self.usage.options, at)
                if values.get("used_at"):
                    values["used_at"] = parse_hl7_time(values["used_at"], "FT1-4")
                out.append(check_record(build_record(UsageEvent, values, where=at), at))
            except RecordError as exc:
                out.append(Rejected(at, exc.reason, msg.text.encode()))
        return out

    def _emit(self, data: dict[str, Any], batch: Hl7Batch) -> None:
        where = data.pop("_where")
        raw = data.pop("_raw")
        for usage in data.pop("_usages", ()):
            if isinstance(usage, Rejected):
                batch.rejected.append(usage)
            else:
                batch.usages.append(usage)
        try:
            batch.messages.append(
                check_record(build_record(InterfaceMessage, data, where=where), where))
        except RecordError as exc:
            batch.rejected.append(Rejected(where, exc.reason, raw))
        except Exception as exc:  # one message, never its log (collectors.rejects)
            batch.rejected.append(Rejected(where, unexpected_reason(exc, where), raw))


class _Waiting:
    """Inbound messages of one read by (facility, control id), in log order, with the
    facilities seen per control id (so an ACK finds its message in constant time)."""

    __slots__ = ("by_control", "messages")

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_control: dict[str, set[str]] = {}

    def add(self, data: dict[str, Any]) -> None:
        facility, control = data.get("facility_id", ""), data["control_id"]
        self.messages[(facility, control)] = data  # a repeat of the key replaces it
        self.by_control.setdefault(control, set()).add(facility)

    def find(self, facility: str, control: str) -> dict[str, Any] | None:
        """The message this ACK acknowledges: same facility and control id, else the
        only one of that control id (none when two facilities' messages could be it)."""
        exact = self.messages.get((facility, control))
        if exact is not None:
            return exact
        facilities = self.by_control.get(control, set())
        return self.messages[(next(iter(facilities)), control)] if len(facilities) == 1 else None


class _Repeat:
    """A message seen through its ``index``-th FT1 and ZUS (each FT1 is followed by its
    ZUS), so a mapping's ``FT1-2`` reads the FT1 of one transaction."""

    __slots__ = ("index", "msg")
    REPEATING = ("FT1", "ZUS")

    def __init__(self, msg: Hl7Message, index: int) -> None:
        self.msg = msg
        self.index = index

    def field(self, segment: str, number: int, component: int = 0) -> str:
        index = self.index if segment in self.REPEATING else 0
        return self.msg.field(segment, number, component, index)


def status_for_ack(code: str) -> MessageStatus:
    """The message status an ACK code implies (AA sent; AE/AR error)."""
    return _ACK_STATUS.get(code, MessageStatus.ERROR)
