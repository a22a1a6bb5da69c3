"""X12 005010X221A1 835 (health care claim payment/advice) files of the estate's remittances.

One file per payer and payment date, ``<payer_id>/<YYYYMMDD>.835``: one interchange
(ISA/IEA, control number counting the payer's files from 1 over the whole estate), one
functional group (GS/GE, ``HP``), and one transaction set (ST/SE) per paid facility
(payee), whose BPR02 is the sum of its CLP04. Element separator ``*``, component ``:``,
repetition ``^``, segment terminator ``~`` followed by a newline (X12 allows it; readers
ignore it). A file is ready at 06:00 UTC of its payment date (``READY_DELAY``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from simulator.estate_record import Estate
from simulator.payers import BY_ID, Payer, npi
from simulator.records import Facility, Remittance, RemittanceLine
from simulator.timefmt import HOUR, day_stamp

READY_DELAY = 6 * HOUR
VERSION = "005010X221A1"
RECEIVER = "CHARGELINEDEMO"
_FACILITY_TYPE = {"IMP": "11"}  # CLP08: inpatient; outpatient and emergency 13


@dataclass(frozen=True, slots=True)
class X12File:
    path: str  # relative to the x12 folder: <payer_id>/<YYYYMMDD>.835
    payer: Payer
    paid_ms: int
    control: int  # ISA13 and GS06
    remittances: tuple[Remittance, ...]

    @property
    def ready_ms(self) -> int:
        return self.paid_ms + READY_DELAY


def money(cents: int) -> str:
    """An X12 R (decimal) value without trailing zeros: 1234.5, 1234, -0.05, 0."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}" + (f".{frac:02d}".rstrip("0") if frac else "")


def plan_files(estate: Estate) -> list[X12File]:
    """Every 835 file of the estate's horizon, by payer and payment date, in ready order."""
    by_file: dict[tuple[str, int], list[Remittance]] = defaultdict(list)
    for fac in estate.facilities:
        for r in fac.remittances:
            by_file[(r.payer_id, r.paid_ms)].append(r)
    files = []
    count: dict[str, int] = defaultdict(int)
    for payer_id, paid_ms in sorted(by_file, key=lambda k: (k[1], k[0])):
        count[payer_id] += 1
        rems = sorted(by_file[(payer_id, paid_ms)], key=lambda r: r.claim.claim_id)
        files.append(X12File(f"{payer_id}/{day_stamp(paid_ms)}.835", BY_ID[payer_id], paid_ms,
                             count[payer_id], tuple(rems)))
    return files


def trace_number(payer_id: str, paid_ms: int, facility_id: str) -> str:
    """TRN02, the payment's trace (EFT) number: one payment per payer, date and payee.
    The FHIR ExplanationOfBenefit of the same payment carries it as payment.identifier."""
    return f"{payer_id}{day_stamp(paid_ms)}{int(facility_id.removeprefix('FAC')):03d}"


def _segment(*elements: str) -> str:
    return "*".join(elements).rstrip("*") + "~"


def _name(text: str) -> str:
    """Upper case, without the delimiters of this file."""
    return "".join(" " if ch in "*~:^" else ch for ch in text.upper())


def _adjustments(adjustments: list[tuple[str, str, int]]) -> list[str]:
    """CAS segments: one per group code, up to six reason/amount pairs each."""
    by_group: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for group, reason, cents in adjustments:
        by_group[group].append((reason, cents))
    out = []
    for group, pairs in by_group.items():
        for i in range(0, len(pairs), 6):
            elements = [group]
            for reason, cents in pairs[i:i + 6]:
                elements += [reason, money(cents), ""]
            out.append(_segment("CAS", *elements[:-1]))
    return out


def _service(line: RemittanceLine) -> list[str]:
    c = line.charge
    rev = "" if line.procedure_code.startswith("NU:") else line.revenue_code
    out = [_segment("SVC", line.procedure_code, money(line.charge_cents),
                    money(line.paid_cents), rev, str(c.quantity)),
           _segment("DTM", "472", day_stamp(c.service_ms))]
    out += _adjustments(line.adjustments)
    if line.control:
        out.append(_segment("REF", "6R", line.control))
    if line.allowed_cents:
        out.append(_segment("AMT", "B6", money(line.allowed_cents)))
    out += [_segment("LQ", "HE", remark) for remark in line.remarks]
    return out


def _claim(r: Remittance, payer: Payer) -> list[str]:
    enc = r.claim.encounter
    patient = enc.patient
    member = "W" + patient.patient_id.rsplit("-", 1)[-1].zfill(9)
    out = [_segment("CLP", r.claim.claim_id, r.status, money(r.charge_cents),
                    money(r.paid_cents), money(r.patient_cents) if r.patient_cents else "",
                    payer.filing_code, r.payer_claim_id,
                    _FACILITY_TYPE.get(enc.encounter_class, "13"), "1"),
           # the patient as real 835s name them; the collector keeps only a token
           _segment("NM1", "QC", "1", _name(patient.family), _name(patient.given), "", "", "",
                    "MI", member),
           _segment("DTM", "232", day_stamp(enc.start_ms)),
           _segment("DTM", "233", day_stamp(enc.end_ms))]
    for line in r.lines:
        out += _service(line)
    return out


def _transaction(number: int, file: X12File, facility: Facility, facility_no: int,
                 rems: list[Remittance]) -> list[str]:
    payer = file.payer
    date = day_stamp(file.paid_ms)
    paid = sum(r.paid_cents for r in rems)
    if paid:
        bpr = _segment("BPR", "I", money(paid), "C", "ACH", "CCP", "01", "011000015", "DA",
                       f"7{payer.payer_id}", "1" + payer.tax_id, "", "01",
                       f"0210{facility_no:05d}", "DA", f"5{facility_no:08d}", date)
    else:  # nothing paid: a notification only, no money moves
        bpr = "BPR*H*0*C*NON" + "*" * 12 + date + "~"
    street, city, state, zip_code = payer.address
    out = [_segment("ST", "835", f"{number:04d}"), bpr,  # ST03 is not used in the 835
           _segment("TRN", "1", trace_number(payer.payer_id, file.paid_ms, facility.facility_id),
                    "1" + payer.tax_id),
           _segment("DTM", "405", date),
           _segment("N1", "PR", payer.name), _segment("N3", street),
           _segment("N4", city, state, zip_code), _segment("REF", "2U", payer.payer_id),
           _segment("PER", "BL", "EDI SUPPORT", "TE", "8005550100"),
           _segment("N1", "PE", _name(facility.name), "XX", npi(facility_no)),
           _segment("N3", f"{100 + facility_no} HOSPITAL DRIVE"),
           _segment("N4", _name(facility.city), "IL", "62701"),
           _segment("REF", "TJ", f"98{facility_no:07d}"),
           _segment("LX", "1")]
    for r in rems:
        out += _claim(r, payer)
    out.append(_segment("SE", str(len(out) + 1), f"{number:04d}"))
    return out


def render_file(file: X12File, facilities: dict[str, Facility]) -> str:
    """The text of one 835 file."""
    by_fac: dict[str, list[Remittance]] = defaultdict(list)
    for r in file.remittances:
        by_fac[r.claim.facility_id].append(r)
    date = day_stamp(file.paid_ms)
    control = f"{file.control:09d}"
    sender = file.payer.payer_id
    segments = ["ISA*00*" + " " * 10 + "*00*" + " " * 10 + f"*ZZ*{sender:<15}*ZZ*"
                f"{RECEIVER:<15}*{date[2:]}*0600*^*00501*{control}*0*P*:~",
                _segment("GS", "HP", sender, RECEIVER, date, "0600", str(file.control), "X",
                         VERSION)]
    ordered = sorted(by_fac)
    for n, fid in enumerate(ordered, start=1):
        segments += _transaction(n, file, facilities[fid], int(fid.removeprefix("FAC")),
                                 by_fac[fid])
    segments += [_segment("GE", str(len(ordered)), str(file.control)),
                 _segment("IEA", "1", control)]
    return "\n".join(segments) + "\n"


def ready_remittances(files: Iterable[X12File], as_of: int) -> list[Remittance]:
    """The claim payments in the files ready by ``as_of``."""
    return [r for f in files if f.ready_ms <= as_of for r in f.remittances]
