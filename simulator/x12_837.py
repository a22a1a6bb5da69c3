"""X12 005010X223A2 837I (institutional claim) files of the estate's claims.

One file per facility and claim day (the UTC day the claim was created),
``<facility_id>/<YYYYMMDD>.837``, sent by the hospital's billing system at 23:00 UTC of
that day (``READY_AT``): one interchange (ISA/IEA, control number counting the facility's
files from 1), one functional group (GS/GE ``HC``) and one transaction set per payer, each
claim a CLM loop (2300) under its subscriber (2000B) with one LX/SV2 service line (2400)
per charge it bills: revenue code, ``HC:<HCPCS>`` (none for a CDM line without HCPCS),
the line $ and units, DTP*472 the service day, and REF*6R the line item control number,
which is the charge id (the payer echoes it on the 835 service line). The claim's payer is
the one its 835 payment comes from. Separators as in the 835 files (``*``, ``:``, ``^``,
``~`` and a newline). The subscriber's name and birth date are written as real 837s carry
them; the collector never reads them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from simulator.estate_record import Estate
from simulator.payers import BY_ID, PAYERS, Payer, npi
from simulator.records import CdmEntry, Claim, Facility
from simulator.timefmt import DAY, HOUR, day_stamp
from simulator.x12_835 import money

READY_AT = 23 * HOUR  # after the claim day's last claim
VERSION = "005010X223A2"
RECEIVER = "CLEARINGHOUSE"
_FACILITY_CODE = {"IMP": "11", "EMER": "13"}  # type of bill: hospital inpatient / outpatient
_DIAGNOSIS = "Z9889"  # ICD-10-CM: other specified postprocedural states


@dataclass(frozen=True, slots=True)
class ClaimFile:
    path: str  # relative to the claims folder: <facility_id>/<YYYYMMDD>.837
    facility_id: str
    day_ms: int  # midnight UTC of the claim day
    control: int  # ISA13 and GS06: the facility's files counted from 1
    claims: tuple[tuple[Claim, Payer], ...]

    @property
    def ready_ms(self) -> int:
        return self.day_ms + READY_AT


def _segment(*elements: str) -> str:
    return "*".join(elements).rstrip("*") + "~"


def _name(text: str) -> str:
    return "".join(" " if ch in "*~:^" else ch for ch in text.upper())


def plan_claim_files(estate: Estate) -> list[ClaimFile]:
    """Every 837 file of the estate's horizon, by facility and claim day, in ready order.
    A claim without lines (nothing billed) is not sent."""
    payer_of = {r.claim.claim_id: BY_ID[r.payer_id]
                for fac in estate.facilities for r in fac.remittances}
    by_file: dict[tuple[str, int], list[tuple[Claim, Payer]]] = defaultdict(list)
    for fac in estate.facilities:
        for c in fac.claims:
            if c.charges:
                day = c.created_ms // DAY * DAY
                by_file[(c.facility_id, day)].append((c, payer_of.get(c.claim_id, PAYERS[0])))
    files = []
    count: dict[str, int] = defaultdict(int)
    for facility_id, day in sorted(by_file, key=lambda k: (k[1], k[0])):
        count[facility_id] += 1
        claims = sorted(by_file[(facility_id, day)], key=lambda cp: cp[0].claim_id)
        files.append(ClaimFile(f"{facility_id}/{day_stamp(day)}.837", facility_id, day,
                               count[facility_id], tuple(claims)))
    return files


def _claim(c: Claim, payer: Payer, cdm: dict[str, CdmEntry], hl: int) -> list[str]:
    enc = c.encounter
    patient = enc.patient
    member = "W" + patient.patient_id.rsplit("-", 1)[-1].zfill(9)
    lines = [round(charge.amount * 100) for charge in c.charges]
    out = [_segment("HL", str(hl), "1", "22", "0"),
           _segment("SBR", "P", "18", "", "", "", "", "", "", "CI"),
           _segment("NM1", "IL", "1", _name(patient.family), _name(patient.given), "", "",
                    "", "MI", member),
           _segment("DMG", "D8", patient.birth_date, patient.sex if patient.sex in "MF"
                    else "U"),
           _segment("NM1", "PR", "2", _name(payer.name), "", "", "", "", "PI", payer.payer_id),
           _segment("CLM", c.claim_id, money(sum(lines)), "", "",
                    f"{_FACILITY_CODE.get(enc.encounter_class, '13')}:A:1", "", "A", "Y",
                    "Y"),
           _segment("DTP", "434", "RD8", f"{day_stamp(enc.start_ms)}-{day_stamp(enc.end_ms)}"),
           _segment("CL1", "1", "7", "01"),
           _segment("HI", f"ABK:{_DIAGNOSIS}")]
    for n, charge in enumerate(c.charges, 1):
        entry = cdm.get(charge.cdm_code)
        procedure = f"HC:{entry.hcpcs}" if entry and entry.hcpcs else ""
        out += [_segment("LX", str(n)),
                _segment("SV2", entry.revenue_code if entry else "", procedure,
                         money(lines[n - 1]), "UN", str(charge.quantity)),
                _segment("DTP", "472", "D8", day_stamp(charge.service_ms)),
                _segment("REF", "6R", charge.charge_id)]
    return out


def render_claim_file(file: ClaimFile, facilities: dict[str, Facility],
                      cdm: dict[str, CdmEntry]) -> str:
    """The text of one 837I file."""
    facility = facilities[file.facility_id]
    number = int(file.facility_id.removeprefix("FAC"))
    date = day_stamp(file.day_ms)
    control = f"{file.control:09d}"
    sender = f"HOSP{number:04d}"
    by_payer: dict[str, list[tuple[Claim, Payer]]] = defaultdict(list)
    for claim, payer in file.claims:
        by_payer[payer.payer_id].append((claim, payer))
    segments = ["ISA*00*" + " " * 10 + "*00*" + " " * 10 + f"*ZZ*{sender:<15}*ZZ*"
                f"{RECEIVER:<15}*{date[2:]}*2300*^*00501*{control}*0*P*:~",
                _segment("GS", "HC", sender, RECEIVER, date, "2300", str(file.control), "X",
                         VERSION)]
    for st, payer_id in enumerate(sorted(by_payer), 1):
        payer = BY_ID[payer_id]
        body = [_segment("ST", "837", f"{st:04d}", VERSION),
                _segment("BHT", "0019", "00", f"{sender}{date}{st:02d}", date, "2300", "CH"),
                _segment("NM1", "41", "2", _name(facility.name), "", "", "", "", "46", sender),
                _segment("PER", "IC", "BILLING OFFICE", "TE", "8005550100"),
                _segment("NM1", "40", "2", RECEIVER, "", "", "", "", "46", RECEIVER),
                _segment("HL", "1", "", "20", "1"),
                _segment("NM1", "85", "2", _name(facility.name), "", "", "", "", "XX",
                         npi(number)),
                _segment("N3", f"{100 + number} HOSPITAL DRIVE"),
                _segment("N4", _name(facility.city), "IL", "627010001"),
                _segment("REF", "EI", f"98{number:07d}")]
        for hl, (claim, _payer) in enumerate(by_payer[payer_id], 2):
            body += _claim(claim, payer, cdm, hl)
        body.append(_segment("SE", str(len(body) + 1), f"{st:04d}"))
        segments += body
    segments += [_segment("GE", str(len(by_payer)), str(file.control)),
                 _segment("IEA", "1", control)]
    return "\n".join(segments) + "\n"
