"""X12 835 remittance and 837 claim files -> canonical records (pure: bytes in, records out).

One file holds one or more interchanges (``ISA`` .. ``IEA``). Each is validated by pyx12
against its implementation guide's map (005010X221A1, or the 004010X091A1 of older
payers) and read in the same pass, each segment in the loop the map places it in:

- ``CLP`` loop (2100) -> ``Remittance`` (CLP01..CLP07; payment trace TRN02, effective
  date BPR16, payer N1*PR, payee N1*PE -> facility);
- ``SVC`` loop (2110) -> ``RemittanceLine`` (SVC01 as written, ``HC:C1776:RT``; SVC02..SVC05,
  DTM*472/150, REF*6R, LQ*HE);
- ``CAS`` -> ``RemittanceAdjustment``: claim level (``line_no`` 0) or its service line.

An 837 claim transaction set (005010X222A1 837P, 005010X223A2 837I, and their 004010
forebears) is read the same way:

- ``CLM`` loop (2300) -> ``Claim`` (CLM01 the claim id, CLM02 its total, BHT04/05 when it
  was created, the billing provider NM1*85 -> facility by the same map as the 835's payee;
  CLM05-3 frequency 8 is a void: status ``cancelled``, else ``active``). The encounter is
  not in an 837 (``encounter_id`` empty) and a claim the store already holds (from FHIR)
  keeps its row: the collector inserts 837 claims only when new;
- ``LX`` loop (2400) -> ``ClaimLine``: LX01 the line number; SV1 (837P: SV101 ``HC:code:
  modifiers``, SV102 $, SV104 units) or SV2 (837I: SV201 revenue code, SV202 ``HC:code:
  modifiers``, SV203 $, SV205 units); DTP*472 the service day (a range's first day; else
  the claim's DTP*472 or statement start DTP*434); REF*6R the line item control number.

What pyx12 finds wrong decides what is refused, by where it is: an error inside one
claim's CLP (or CLM) loop rejects that claim's records alone; anywhere else (envelope, header,
trailer counts, a broken ``ISA``, a wrong terminator) the whole interchange is
quarantined. Either way the reason is pyx12's own words with the segment and line, the
offending value left out (it may be a patient's name). Valid sibling interchanges and
claims are kept. The patient (NM1*QC, NM1*IL) is never read.

Keys: ``remittance_id`` is ``TRN02:CLP01:CLP07``; ``TRN02:CLP01:<n>`` (the CLP loop's
1-based position in its transaction set) when CLP07 is empty; ``TRN02:CLP01:CLP07:<n>``
when the same three repeat in one payment (a reversal and its correction, CLP02 22 and
1, carry the same payer claim number).
"""

from __future__ import annotations

import io
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyx12.errors
import pyx12.params
import pyx12.x12file
import pyx12.x12n_document

from collectors.base import Reject
from collectors.rejects import unexpected_reason
from core.errors import RecordError
from core.model import (
    CanonicalRecord,
    Claim,
    ClaimLine,
    Remittance,
    RemittanceAdjustment,
    RemittanceLine,
    build_record,
)
from store.bounds import check_record

# pyx12 logs every validation error with the offending value, which may be a patient's
# name or id: its log stays silent, the reasons below say what is wrong without the value
logging.getLogger("pyx12").setLevel(logging.CRITICAL + 1)

INTERCHANGE_KIND = "x12_interchange"  # the record_kind of a whole quarantined interchange
_ISA_START = re.compile(rb"ISA(?=[^A-Za-z0-9\s])")
# IEA, its element separator, the group count and the 9-digit control number, a terminator
_IEA_END = re.compile(rb"(?:^|[^A-Za-z0-9])IEA([^A-Za-z0-9\s])\d{1,5}\1\d{9}\S?\s*$")
_CAS_TRIPLETS = range(2, 19, 3)  # CAS02/03/04, 05/06/07, ... 17/18/19


@dataclass
class X12Page:
    """What one file gave: records to store, and rejects (with reasons) to quarantine."""

    records: list[CanonicalRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    interchanges: int = 0  # interchanges read (valid or not)
    newest: datetime | None = None


@dataclass(frozen=True)
class Problem:
    """One validation error of pyx12, where it found it."""

    line: int  # the segment's line in the interchange (pyx12 counts segments as lines)
    text: str

    def inside(self, first: int, last: int) -> bool:
        return first <= self.line <= last


def is_x12(head: bytes) -> bool:
    """Whether a file's first bytes open an X12 interchange."""
    return head.lstrip(b"\xef\xbb\xbf\r\n\t ").startswith(b"ISA")


def ends_complete(chunk: bytes) -> bool:
    """Whether an interchange's bytes end with its ``IEA`` trailer (a file still being
    written ends in the middle of one)."""
    return _IEA_END.search(chunk) is not None


def split_interchanges(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(byte offset, bytes) of each interchange: from one ``ISA`` to the next, so a broken
    one (its ``IEA`` missing, a wrong terminator) never swallows the interchanges after it.
    Bytes before the first ``ISA`` come as their own piece (offset 0, not an ``ISA``)."""
    starts = [m.start() for m in _ISA_START.finditer(data)
              if not data[m.start() - 1:m.start()].isalnum()]  # not the end of "VISA*"
    if not starts or data[:starts[0]].strip(b"\xef\xbb\xbf\r\n\t "):
        yield 0, data[: starts[0]] if starts else data
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        yield start, data[start:end]


def _text(chunk: bytes) -> str:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:  # X12's basic and extended character sets are single-byte
        return chunk.decode("latin-1")


def _without_value(text: str, value: Any) -> str:
    if value not in (None, ""):
        text = text.replace(f"({value})", "(…)").replace(str(value), "…")
    return text


@dataclass(frozen=True)
class _Seg:
    """One segment as pyx12's validator placed it: its line and the loops it is in."""

    seg: Any  # pyx12.segment.Segment
    line: int
    loops: tuple[str, ...]  # e.g. ('ISA_LOOP', 'GS_LOOP', 'ST_LOOP', 'DETAIL', '2000', '2100')


def validate_and_walk(text: str) -> tuple[list[Problem], list[_Seg]]:
    """Every error pyx12's validator (``x12n_document``) reports for one interchange, and
    every segment with the loops its map places it in (one pass: the maps load once)."""
    report = io.StringIO()
    segments: list[_Seg] = []
    failed: list[BaseException] = []

    def keep(seg: Any, src: Any, node: Any, valid: bool) -> None:
        try:
            loops = tuple(node.x12path.loop_list) if node is not None else ()
            segments.append(_Seg(seg, int(src.get_cur_line()), loops))
        except Exception as exc:  # pyx12 swallows a callback's failure: never lose it
            failed.append(exc)

    pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), None, None,
                                      fd_json=report, callback=keep)
    if failed:
        raise failed[0]
    if not report.getvalue():
        return [Problem(0, "pyx12 could not read it as an X12 interchange")], segments
    problems: list[Problem] = []

    def level(node: dict[str, Any], what: str) -> None:
        for err in node.get("errors", []):
            text = _without_value(err.get("err_str", ""), err.get("err_val"))
            problems.append(Problem(int(node.get("cur_line") or 0),
                                    f"{what} error {err.get('err_cde')}: {text}"))

    for isa in json.loads(report.getvalue()).get("interchanges", []):
        level(isa, f"interchange {isa.get('isa_trn_set_id')}")
        for gs in isa.get("groups", []):
            level(gs, f"group {gs.get('gs_control_num')}")
            for st in gs.get("transactions", []):
                level(st, f"transaction set {st.get('trn_set_id')} {st.get('trn_set_control_num')}")
                for seg in st.get("segments", []):
                    where = (f"segment {seg.get('seg_id')} #{seg.get('seg_count')} "
                             f"({seg.get('name')}) at line {seg.get('cur_line')}")
                    texts = [_without_value(e.get("err_str", ""), e.get("err_val"))
                             for e in seg.get("errors", [])]
                    for ele in seg.get("elements", []):
                        pos = f"{seg.get('seg_id')}{int(ele.get('ele_pos') or 0):02d}"
                        if ele.get("subele_pos"):
                            pos += f"-{ele['subele_pos']}"
                        texts += [f"{pos}: {_without_value(e.get('err_str', ''), e.get('err_val'))}"
                                  for e in ele.get("errors", [])]
                    problems += [Problem(int(seg.get("cur_line") or 0), f"{where}: {t}")
                                 for t in texts]
    return problems, segments


def _decimal(value: str | None, element: str, default: Decimal | None = None) -> Decimal:
    if not value:
        if default is not None:
            return default
        raise RecordError(f"{element} is empty — an amount is required there")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise RecordError(f"{element} is not a number") from None


def _date(value: str | None) -> date | None:
    if not value or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class _Header:
    """What a transaction set's header says about every claim in it."""

    trace: str = ""  # TRN02
    originator: str = ""  # TRN03
    paid_at: datetime | None = None  # BPR16 (else DTM*405)
    payer_id: str = ""
    payer_name: str = ""
    payee_id: str = ""
    payee_name: str = ""


def _value(seg: Any, ref: str) -> str:
    try:
        return (seg.get_value(ref) or "").strip()
    except pyx12.errors.EngineError:  # not that segment (pyx12 placed a stray one here)
        return ""


def _header_segment(header: _Header, seg: Any, loop: str) -> None:
    seg_id = seg.get_seg_id()
    if seg_id == "BPR":
        day = _date(_value(seg, "BPR16"))
        header.paid_at = _midnight(day) if day else header.paid_at
    elif seg_id == "TRN":
        header.trace, header.originator = _value(seg, "TRN02"), _value(seg, "TRN03")
    elif seg_id == "DTM" and _value(seg, "DTM01") == "405" and header.paid_at is None:
        day = _date(_value(seg, "DTM02"))
        header.paid_at = _midnight(day) if day else None
    elif seg_id == "N1" and _value(seg, "N101") == "PR":
        header.payer_name, header.payer_id = _value(seg, "N102"), _value(seg, "N104")
    elif seg_id == "N1" and _value(seg, "N101") == "PE":
        header.payee_name, header.payee_id = _value(seg, "N102"), _value(seg, "N104")
    elif seg_id == "REF" and loop == "1000A" and _value(seg, "REF01") == "2U":
        header.payer_id = header.payer_id or _value(seg, "REF02")


@dataclass
class _Claim:
    """One CLP loop as pyx12 placed it: its segments (and lines), by service line."""

    ordinal: int  # its position in the transaction set, from 1
    first_line: int
    last_line: int
    claim: list[Any]  # the CLP loop's own segments (CLP, CAS, DTM ...)
    services: list[list[Any]] = field(default_factory=list)  # each SVC loop, SVC first

    def add(self, seg: _Seg) -> None:
        self.last_line = seg.line
        if "2110" not in seg.loops:
            self.claim.append(seg.seg)
        elif seg.seg.get_seg_id() == "SVC" or not self.services:
            self.services.append([seg.seg])
        else:
            self.services[-1].append(seg.seg)


@dataclass
class _Transaction:
    """One 835 transaction set: its header and its claims."""

    header: _Header
    received: datetime | None
    claims: list[_Claim] = field(default_factory=list)


def _adjustments(seg: Any, remittance_id: str, claim_id: str, line_no: int, seq: int,
                 updated: datetime) -> list[RemittanceAdjustment]:
    out = []
    group = _value(seg, "CAS01")
    for first in _CAS_TRIPLETS:
        reason = _value(seg, f"CAS{first:02d}")
        if not reason:
            continue
        seq += 1
        quantity = _value(seg, f"CAS{first + 2:02d}")
        out.append(build_record(RemittanceAdjustment, {
            "remittance_id": remittance_id, "line_no": line_no, "seq": seq,
            "claim_id": claim_id, "group_code": group, "reason_code": reason,
            "amount": _decimal(_value(seg, f"CAS{first + 1:02d}"), f"CAS{first + 1:02d}"),
            "quantity": _decimal(quantity, f"CAS{first + 2:02d}") if quantity else None,
            "last_updated": updated}))
    return out


def _service_line(segs: list[Any], remittance_id: str, claim_id: str, line_no: int,
                  claim_day: date | None, updated: datetime) -> list[CanonicalRecord]:
    svc = segs[0]
    qualifier, code = _value(svc, "SVC01-1"), _value(svc, "SVC01-2")
    modifiers = [m for m in (_value(svc, f"SVC01-{i}") for i in range(3, 7)) if m]
    revenue = code if qualifier == "NU" else _value(svc, "SVC04")
    # SVC01 as the payer wrote it, ':' between components whatever the file's separator:
    # qualifier, code, modifiers ('HC:C1776', 'HC:27447:RT', 'NU:0278'), as in the claim
    procedure = ":".join([qualifier, code, *modifiers])
    line: dict[str, Any] = {
        "remittance_id": remittance_id, "line_no": line_no, "claim_id": claim_id,
        "procedure_code": procedure, "revenue_code": revenue,
        "charge_amount": _decimal(_value(svc, "SVC02"), "SVC02"),
        "paid_amount": _decimal(_value(svc, "SVC03"), "SVC03"),
        "units": _decimal(_value(svc, "SVC05"), "SVC05", Decimal(1)),
        "service_on": claim_day, "last_updated": updated}
    remarks: list[str] = []
    adjustments: list[CanonicalRecord] = []
    dates: dict[str, date | None] = {}
    for seg in segs[1:]:
        seg_id = seg.get_seg_id()
        if seg_id == "DTM":
            dates.setdefault(_value(seg, "DTM01"), _date(_value(seg, "DTM02")))
        elif seg_id == "REF" and _value(seg, "REF01") == "6R":
            line["line_control"] = _value(seg, "REF02")
        elif seg_id == "LQ" and _value(seg, "LQ01") == "HE":
            remarks.append(_value(seg, "LQ02"))
        elif seg_id == "CAS":
            adjustments += _adjustments(seg, remittance_id, claim_id, line_no,
                                        len(adjustments), updated)
    line["service_on"] = dates.get("472") or dates.get("150") or claim_day
    line["remark_codes"] = ",".join(r for r in remarks if r)
    return [build_record(RemittanceLine, line), *adjustments]


def _claim_records(claim: _Claim, header: _Header, remittance_id: str, facility: str,
                   received: datetime | None) -> list[CanonicalRecord]:
    clp = claim.claim[0]
    claim_id = _value(clp, "CLP01")
    if header.paid_at is None:
        raise RecordError("the payment has no effective date (BPR16) nor production date "
                          "(DTM*405) — a remittance needs its payment date")
    updated = received or header.paid_at
    claim_day = None
    records: list[CanonicalRecord] = [build_record(Remittance, {
        "remittance_id": remittance_id, "claim_id": claim_id, "facility_id": facility,
        "payer_id": header.payer_id or header.originator, "payer_name": header.payer_name,
        "status_code": _value(clp, "CLP02"),
        "charge_amount": _decimal(_value(clp, "CLP03"), "CLP03"),
        "paid_amount": _decimal(_value(clp, "CLP04"), "CLP04"),
        "patient_responsibility": _decimal(_value(clp, "CLP05"), "CLP05", Decimal(0)),
        "payer_claim_id": _value(clp, "CLP07"), "paid_at": header.paid_at,
        "received_at": received, "last_updated": updated})]
    seq = 0
    for seg in claim.claim[1:]:
        if seg.get_seg_id() == "CAS":
            adjustments = _adjustments(seg, remittance_id, claim_id, 0, seq, updated)
            seq += len(adjustments)
            records += adjustments
        elif seg.get_seg_id() == "DTM" and _value(seg, "DTM01") == "232":
            claim_day = _date(_value(seg, "DTM02"))  # the claim's statement period start
    for number, service in enumerate(claim.services, 1):
        records += _service_line(service, remittance_id, claim_id, number, claim_day, updated)
    return [check_record(r) for r in records]


def _received_at(isa: Any, gs: Any) -> datetime | None:
    """When the 835 was produced: GS04/GS05 (CCYYMMDD, HHMM[SS]), as UTC (X12 has no zone)."""
    day = _date(_value(gs, "GS04")) if gs is not None else None
    clock = (_value(gs, "GS05") if gs is not None else "") + "0000"
    if day is None:
        return None
    try:
        return datetime(day.year, day.month, day.day, int(clock[:2]), int(clock[2:4]),
                        tzinfo=UTC)
    except ValueError:
        return _midnight(day)


@dataclass
class _BilledClaim:
    """One 837 CLM loop (2300): its own segments and each LX loop (2400)."""

    clm: Any
    first_line: int
    last_line: int
    provider_id: str  # the billing provider's NM1*85 NM109 (its NPI)
    provider_name: str
    segments: list[Any] = field(default_factory=list)  # 2300's own (DTP, REF, ...)
    lines: list[list[Any]] = field(default_factory=list)  # each 2400: LX, SV1/SV2, DTP ...


@dataclass
class _ClaimSet:
    """One 837 transaction set: when it was made, and its claims in order."""

    received: datetime | None
    created: datetime | None = None  # BHT04 (+ BHT05)
    provider_id: str = ""
    provider_name: str = ""
    claims: list[_BilledClaim] = field(default_factory=list)

    def add(self, item: _Seg) -> None:
        seg, seg_id, loops = item.seg, item.seg.get_seg_id(), item.loops
        if seg_id == "BHT":
            self.created = _instant(_value(seg, "BHT04"), _value(seg, "BHT05"))
        elif seg_id == "NM1" and loops[-1:] == ("2010AA",):
            self.provider_id, self.provider_name = _value(seg, "NM109"), _value(seg, "NM103")
        elif seg_id == "CLM" and loops[-1:] == ("2300",):
            self.claims.append(_BilledClaim(seg, item.line, item.line, self.provider_id,
                                            self.provider_name))
        elif "2300" in loops and self.claims:
            claim = self.claims[-1]
            claim.last_line = item.line
            if "2400" not in loops:
                if loops[-1] == "2300":
                    claim.segments.append(seg)
            elif seg_id == "LX" and loops[-1] == "2400":
                claim.lines.append([seg])
            elif loops[-1] == "2400" and claim.lines:
                claim.lines[-1].append(seg)


def _instant(day_text: str, clock_text: str) -> datetime | None:
    day = _date(day_text)
    if day is None:
        return None
    clock = (clock_text + "0000")[:4]
    try:
        return datetime(day.year, day.month, day.day, int(clock[:2]), int(clock[2:]),
                        tzinfo=UTC)
    except ValueError:
        return _midnight(day)


def _service_day(seg: Any) -> date | None:
    """DTP*472 (or 434): a D8 date, or the first day of an RD8 range."""
    return _date(_value(seg, "DTP03")[:8])


def _procedure(composite_of: Any, ref: str) -> tuple[str, str]:
    """(code, comma-separated modifiers) of an SV101/SV202 composite (``HC:27447:RT``)."""
    code = _value(composite_of, f"{ref}-2")
    modifiers = [m for m in (_value(composite_of, f"{ref}-{i}") for i in range(3, 7)) if m]
    return code, ",".join(modifiers)


def _billed_line(segs: list[Any], claim_id: str, claim_day: date | None,
                 updated: datetime) -> ClaimLine:
    lx = segs[0]
    line: dict[str, Any] = {"claim_id": claim_id, "line_no": _value(lx, "LX01"),
                            "service_on": claim_day, "last_updated": updated}
    for seg in segs[1:]:
        seg_id = seg.get_seg_id()
        if seg_id == "SV1":  # professional
            line["procedure_code"], line["modifiers"] = _procedure(seg, "SV101")
            line["charge_amount"] = _decimal(_value(seg, "SV102"), "SV102")
            line["units"] = _decimal(_value(seg, "SV104"), "SV104", Decimal(1))
        elif seg_id == "SV2":  # institutional
            line["revenue_code"] = _value(seg, "SV201")
            line["procedure_code"], line["modifiers"] = _procedure(seg, "SV202")
            line["charge_amount"] = _decimal(_value(seg, "SV203"), "SV203")
            line["units"] = _decimal(_value(seg, "SV205"), "SV205", Decimal(1))
        elif seg_id == "DTP" and _value(seg, "DTP01") == "472":
            line["service_on"] = _service_day(seg) or claim_day
        elif seg_id == "REF" and _value(seg, "REF01") == "6R":
            line["line_control"] = _value(seg, "REF02")
    if "charge_amount" not in line:
        raise RecordError(f"LX {line['line_no']}: no SV1 or SV2 service line — a claim line "
                          "needs its charge")
    return build_record(ClaimLine, line)


def _billed_records(claim: _BilledClaim, claim_set: _ClaimSet, facility: str
                    ) -> list[CanonicalRecord]:
    created = claim_set.created or claim_set.received
    if created is None:
        raise RecordError("the transaction set has no creation date (BHT04) nor group date "
                          "(GS04) — a claim needs its date")
    claim_id = _value(claim.clm, "CLM01")
    frequency = _value(claim.clm, "CLM05-3")
    claim_day = None
    for seg in claim.segments:
        if seg.get_seg_id() == "DTP" and _value(seg, "DTP01") in ("472", "434"):
            claim_day = claim_day or _service_day(seg)
    records: list[CanonicalRecord] = [build_record(Claim, {
        "claim_id": claim_id, "facility_id": facility, "encounter_id": "",
        "total": _decimal(_value(claim.clm, "CLM02"), "CLM02"),
        "status": "cancelled" if frequency == "8" else "active",
        "created_at": created, "last_updated": created})]
    records += [_billed_line(segs, claim_id, claim_day, created) for segs in claim.lines]
    return [check_record(r) for r in records]


class _Interchange:
    """Reads one valid-enough interchange into records, claim by claim."""

    def __init__(self, text: str, where: str, problems: list[Problem],
                 facilities: Mapping[str, str], default_facility: str) -> None:
        self.text, self.where, self.problems = text, where, problems
        self.facilities, self.default_facility = facilities, default_facility
        self.page = X12Page()

    def facility(self, header: _Header) -> str:
        for key in (header.payee_id, header.payee_name):
            if key and key in self.facilities:
                return self.facilities[key]
        return self.default_facility or header.payee_id or header.payee_name

    def read(self, segments: list[_Seg]) -> X12Page:
        isa = gs = None
        transactions: list[_Transaction] = []
        current: _Transaction | None = None
        claim_sets: list[_ClaimSet] = []
        claims: _ClaimSet | None = None
        for item in segments:
            seg, seg_id = item.seg, item.seg.get_seg_id()
            if seg_id == "ISA":
                isa = seg
            elif seg_id == "GS":
                gs = seg
            elif seg_id == "ST":
                current = claims = None
                if _value(seg, "ST01") == "835":
                    current = _Transaction(_Header(), _received_at(isa, gs))
                    transactions.append(current)
                elif _value(seg, "ST01") == "837":
                    claims = _ClaimSet(_received_at(isa, gs))
                    claim_sets.append(claims)
                else:
                    self.page.rejects.append(Reject(
                        f"{self.where} ST {_value(seg, 'ST02')}",
                        f"an X12 {_value(seg, 'ST01')} transaction set: Chargeline reads "
                        "835 remittances and 837 claims from X12 files",
                        self.text, INTERCHANGE_KIND))  # kept whole, to replay later
            elif claims is not None:
                claims.add(item)
            elif current is None:
                continue
            elif "2100" in item.loops:
                if seg_id == "CLP" and "2110" not in item.loops:
                    current.claims.append(_Claim(len(current.claims) + 1, item.line,
                                                 item.line, [seg]))
                elif current.claims:
                    current.claims[-1].add(item)
            elif "HEADER" in item.loops:
                _header_segment(current.header, seg, item.loops[-1])
        for transaction in transactions:
            used: set[str] = set()
            for claim in transaction.claims:
                self.claim(claim, transaction.header, used, transaction.received)
        for claim_set in claim_sets:
            for billed in claim_set.claims:
                self.billed(billed, claim_set)
        return self.page

    def billed(self, claim: _BilledClaim, claim_set: _ClaimSet) -> None:
        """One 837 claim's records, or its reject (pyx12's errors inside its CLM loop)."""
        clm01 = _value(claim.clm, "CLM01")
        where = f"{self.where} CLM {clm01 or '?'} (line {claim.first_line})"
        raw = "\n".join(str(s) for s in [claim.clm, *claim.segments,
                                          *(s for line in claim.lines for s in line)])
        found = [p.text for p in self.problems if p.inside(claim.first_line, claim.last_line)]
        if found:
            self.page.rejects.append(Reject(where, "pyx12: " + "; ".join(found), raw,
                                            Claim.kind))
            return
        facility = self.default_facility
        for key in (claim.provider_id, claim.provider_name):
            if key and key in self.facilities:
                facility = self.facilities[key]
                break
        else:
            facility = facility or claim.provider_id or claim.provider_name
        self._keep(where, raw, Claim.kind,
                   lambda: _billed_records(claim, claim_set, facility), "created_at")

    def claim(self, claim: _Claim, header: _Header, used: set[str],
              received: datetime | None) -> None:
        clp = claim.claim[0]
        clp01, clp07 = _value(clp, "CLP01"), _value(clp, "CLP07")
        remittance_id = (f"{header.trace}:{clp01}:{clp07}" if clp07
                         else f"{header.trace}:{clp01}:{claim.ordinal}")
        if remittance_id in used:
            remittance_id = f"{remittance_id}:{claim.ordinal}"
        used.add(remittance_id)
        where = f"{self.where} CLP {clp01 or '?'} (line {claim.first_line})"
        raw = "\n".join(str(s) for s in claim.claim
                        + [s for service in claim.services for s in service])
        found = [p.text for p in self.problems if p.inside(claim.first_line, claim.last_line)]
        if found:
            self.page.rejects.append(Reject(where, "pyx12: " + "; ".join(found), raw,
                                            Remittance.kind))
            return
        self._keep(where, raw, Remittance.kind,
                   lambda: _claim_records(claim, header, remittance_id,
                                          self.facility(header), received), "paid_at")

    def _keep(self, where: str, raw: str, kind: str,
              build: Callable[[], list[CanonicalRecord]], stamp: str) -> None:
        """The records ``build`` makes of one claim, its first record's ``stamp`` moving
        the page's newest; a claim that fails is one reject, never its file
        (collectors.rejects)."""
        try:
            records = build()
        except RecordError as exc:
            self.page.rejects.append(Reject(where, exc.reason, raw, kind))
            return
        except Exception as exc:
            self.page.rejects.append(Reject(where, unexpected_reason(exc, where), raw, kind))
            return
        self.page.records += records
        at = getattr(records[0], stamp)
        if self.page.newest is None or at > self.page.newest:
            self.page.newest = at


def _envelope_reason(text: str) -> str:
    """Why pyx12 cannot open the interchange at all (a broken ISA), or ''."""
    try:
        pyx12.x12file.X12Reader(io.StringIO(text)).close()
    except pyx12.errors.X12Error as exc:
        # its message goes on to quote the file from the ISA: keep the sentence only
        return "pyx12: " + str(exc).split(" for ISA", 1)[0][:300]
    return ""


def parse_interchange(text: str, where: str, facilities: Mapping[str, str] = {},
                      default_facility: str = "", raw: bytes | None = None) -> X12Page:
    """One interchange's records, or its rejects (the whole, or the bad claims). ``raw``
    is what a whole reject keeps (the file's bytes; else ``text``)."""
    reason = _envelope_reason(text)
    problems: list[Problem] = []
    segments: list[_Seg] = []
    if not reason:
        problems, segments = validate_and_walk(text)
        claims = [(first.line, _claim_end(segments, index)) for index, first
                  in enumerate(segments) if _starts_claim(first)] if problems else []
        outside = [p.text for p in problems
                   if not any(p.inside(first, last) for first, last in claims)]
        if outside:
            reason = "pyx12: " + "; ".join(outside[:20]) + (
                f"; and {len(outside) - 20} more" if len(outside) > 20 else "")
    if reason:
        return X12Page(rejects=[Reject(where, reason, text if raw is None else raw,
                                       INTERCHANGE_KIND)])
    return _Interchange(text, where, problems, facilities, default_facility).read(segments)


_CLAIM_LOOPS = {"CLP": "2100", "CLM": "2300"}  # where a claim starts: 835, 837


def _starts_claim(item: _Seg) -> bool:
    loop = _CLAIM_LOOPS.get(item.seg.get_seg_id())
    return loop is not None and item.loops[-1:] == (loop,)


def _claim_end(segments: list[_Seg], start: int) -> int:
    """The last line of the CLP (CLM) loop that starts at ``segments[start]``."""
    last = segments[start].line
    loop = _CLAIM_LOOPS[segments[start].seg.get_seg_id()]
    for item in segments[start + 1:]:
        if loop not in item.loops or _starts_claim(item):
            break
        last = item.line
    return last


def _pyx12_failure(exc: BaseException) -> str:
    """The reason of a failure inside pyx12 itself (it trips on some malformed envelopes,
    e.g. a GE without its GS), or '' when the failure is ours."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or "/pyx12/" not in frames[-1].filename.replace("\\", "/"):
        return ""
    last = frames[-1]
    return (f"pyx12 could not read the interchange ({type(exc).__name__} at "
            f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}): its envelope is malformed — "
            "check that every ISA, GS and ST has its IEA, GE and SE, in order")


def parse_x12(data: bytes, where: str, facilities: Mapping[str, str] = {},
              default_facility: str = "", base: int = 0) -> X12Page:
    """Every interchange of one file: records of the valid ones (and of the valid claims
    of the others), rejects with pyx12's reasons for the rest.

    ``facilities`` maps a payee (N1*PE N104, e.g. its NPI, or N102 name) to a facility id;
    an unmapped payee is ``default_facility``, else its id as written. ``base`` is the
    file offset of ``data`` (positions name the file offset of each interchange)."""
    page = X12Page()
    for offset, chunk in split_interchanges(data):
        at = f"{where}@{base + offset}"
        if not chunk.lstrip(b"\xef\xbb\xbf\r\n\t ").startswith(b"ISA"):
            page.rejects.append(Reject(at, "not an X12 interchange: bytes before the first "
                                       "ISA segment", chunk, INTERCHANGE_KIND))
            continue
        page.interchanges += 1
        try:
            one = parse_interchange(_text(chunk).strip(), at, facilities, default_facility,
                                    chunk)
        except (pyx12.errors.X12Error, pyx12.errors.EngineError) as exc:
            one = X12Page(rejects=[Reject(at, f"pyx12: {str(exc)[:300]}", chunk,
                                          INTERCHANGE_KIND)])
        except Exception as exc:  # one interchange, never its file (collectors.rejects)
            one = X12Page(rejects=[Reject(at, _pyx12_failure(exc) or unexpected_reason(exc, at),
                                          chunk, INTERCHANGE_KIND)])
        page.records += one.records
        page.rejects += one.rejects
        if one.newest and (page.newest is None or one.newest > page.newest):
            page.newest = one.newest
    return page
