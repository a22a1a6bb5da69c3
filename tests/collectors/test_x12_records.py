"""X12 835 files -> remittance records, through pyx12: real files from pyx12's own test
data (tests/data/x12/README.md), a hand-written denial, and broken variants of both."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from collectors.x12_records import INTERCHANGE_KIND, X12Page, ends_complete, parse_x12
from core.model import Remittance, RemittanceAdjustment, RemittanceLine

DATA = Path(__file__).parents[1] / "data" / "x12"
DENIAL = (DATA / "denial-835.txt").read_bytes()
MULT_LOOPS = (DATA / "pyx12-835_mult_loops.txt").read_bytes()  # 005010X221A1
REVERSALS = (DATA / "pyx12-835id-4010.txt").read_bytes()  # 004010X091A1, CLP02 22 and 1
BAD_LOOPING = (DATA / "pyx12-835-bad_header_looping-4010.txt").read_bytes()  # pyx12: invalid
CLAIMS_837 = (DATA / "pyx12-837p-simple-4010.txt").read_bytes()


def of(page: X12Page, kind: type) -> list:
    return [r for r in page.records if isinstance(r, kind)]


def bpr02(data: bytes) -> Decimal:
    segment = next(s for s in data.replace(b"\n", b"").split(b"~") if s.startswith(b"BPR"))
    return Decimal(segment.split(b"*")[2].decode())


def count(data: bytes, seg_id: bytes) -> int:
    return sum(1 for s in data.replace(b"\n", b"").split(b"~") if s.startswith(seg_id + b"*"))


def test_the_denial_835_gives_every_number_it_writes() -> None:
    page = parse_x12(DENIAL, "denial.835")
    assert page.rejects == []
    paid, denied = of(page, Remittance)
    assert (paid.remittance_id, paid.claim_id, paid.status_code) == (
        "EFT20261203A:ENC1001:PCN0001", "ENC1001", "1")
    assert (paid.charge_amount, paid.paid_amount, paid.patient_responsibility) == (
        Decimal("2000.00"), Decimal("1450.00"), Decimal("250.00"))
    assert (paid.payer_id, paid.payer_name, paid.facility_id) == (
        "DHP01", "DEMO HEALTH PLAN", "1234567893")  # REF*2U; the payee's NPI as written
    assert paid.paid_at == datetime(2026, 12, 3, tzinfo=UTC)  # BPR16
    assert paid.received_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # GS04/GS05
    assert (denied.status_code, denied.paid_amount) == ("4", Decimal(0))
    lines = {(r.claim_id, r.line_no): r for r in of(page, RemittanceLine)}
    assert lines["ENC1001", 1].procedure_code == "HC:C1776"  # SVC01 as written
    assert lines["ENC1001", 2].procedure_code == "HC:27447:RT"  # modifiers after ':'
    assert (lines["ENC1001", 1].revenue_code, lines["ENC1001", 1].line_control) == (
        "0278", "LINE-1001-1")
    nu = parse_x12(DENIAL.replace(b"SVC*HC:C1713*350.00*0*0278*2", b"SVC*NU:0278*350.00*0**2"),
                   "f")
    nu_line = next(r for r in of(nu, RemittanceLine) if r.claim_id == "ENC1002")
    assert (nu_line.procedure_code, nu_line.revenue_code) == ("NU:0278", "0278")
    denied_line = lines["ENC1002", 1]
    assert (denied_line.units, denied_line.service_on, denied_line.remark_codes) == (
        Decimal(2), date(2026, 11, 11), "N290")
    adjustments = {(a.claim_id, a.line_no, a.seq): (a.group_code, a.reason_code, a.amount)
                   for a in of(page, RemittanceAdjustment)}
    assert adjustments == {("ENC1001", 0, 1): ("PR", "1", Decimal("250.00")),
                           ("ENC1001", 1, 1): ("CO", "45", Decimal("500.00")),
                           ("ENC1001", 2, 1): ("CO", "45", Decimal("50.00")),
                           ("ENC1002", 1, 1): ("CO", "16", Decimal("350.00"))}
    assert sum(r.paid_amount for r in of(page, Remittance)) == bpr02(DENIAL)


def test_no_patient_name_or_id_reaches_a_record() -> None:
    page = parse_x12(DENIAL, "denial.835")
    dumped = " ".join(str(r.model_dump()) for r in page.records)
    for phi in ("DOE", "JANE", "W123456789", "ROE", "RICHARD", "W987654321"):
        assert phi not in dumped


@pytest.mark.parametrize(("data", "claims", "balanced"), [
    (MULT_LOOPS, 1, True), (REVERSALS, 3, False), (DENIAL, 2, True)])
def test_pyx12_files_parse_to_the_counts_and_sums_they_hold(data: bytes, claims: int,
                                                            balanced: bool) -> None:
    page = parse_x12(data, "f")
    assert page.rejects == []
    assert len(of(page, Remittance)) == count(data, b"CLP") == claims
    assert len(of(page, RemittanceLine)) == count(data, b"SVC")
    assert len(of(page, RemittanceAdjustment)) == count(data, b"CAS")  # one triplet each
    assert sum(r.paid_amount for r in of(page, RemittanceLine)) == sum(
        r.paid_amount for r in of(page, Remittance))
    if balanced:  # 835id has provider-level adjustments (PLB) besides its claims
        assert sum(r.paid_amount for r in of(page, Remittance)) == bpr02(data)


def test_a_reversal_and_its_correction_are_two_remittances() -> None:
    page = parse_x12(REVERSALS, "f")
    keys = [(r.remittance_id, r.status_code, r.paid_amount) for r in of(page, Remittance)]
    assert keys == [("0004926:123839-24635:6363451", "22", Decimal(-210)),
                    ("0004926:123839-24635:6363451:2", "1", Decimal(200)),
                    ("0004926:134158-27488:6397645", "22", Decimal("-500.25"))]
    assert of(page, RemittanceLine)[2].procedure_code == "HC:T1017:TG"


def test_the_payee_maps_to_a_facility_else_the_default() -> None:
    mapped = parse_x12(DENIAL, "f", {"1234567893": "FAC01"})
    assert {r.facility_id for r in of(mapped, Remittance)} == {"FAC01"}
    by_name = parse_x12(DENIAL, "f", {"NORTH CAMPUS HOSPITAL": "FAC02"}, "FAC09")
    assert {r.facility_id for r in of(by_name, Remittance)} == {"FAC02"}
    default = parse_x12(DENIAL, "f", {}, "FAC09")
    assert {r.facility_id for r in of(default, Remittance)} == {"FAC09"}


def test_pyx12s_invalid_file_is_quarantined_whole_with_its_reason() -> None:
    page = parse_x12(BAD_LOOPING, "bad.835")
    assert page.records == []
    (reject,) = page.rejects
    assert reject.record_kind == INTERCHANGE_KIND and reject.position == "bad.835@0"
    assert "SE count of 39 for SE02=0001 is wrong. I count 72" in reject.reason
    assert "segment DTM #5 (Production Date) at line 7" in reject.reason
    assert "11111111" not in reject.reason  # the offending value is left out
    assert reject.raw == BAD_LOOPING  # every byte kept


def test_a_bad_claim_is_rejected_alone_and_its_siblings_kept() -> None:
    data = DENIAL.replace(b"CLP*ENC1001*1*2000.00*", b"CLP*ENC1001*1*20X0.00*")
    page = parse_x12(data, "f")
    assert [r.claim_id for r in of(page, Remittance)] == ["ENC1002"]
    assert {r.claim_id for r in page.records} == {"ENC1002"}
    (reject,) = page.rejects
    assert reject.record_kind == "remittance"
    assert reject.position == "f@0 CLP ENC1001 (line 17)"
    assert ('segment CLP #15 (Claim Payment Information) at line 17: CLP03: Data element '
            '"Total Claim Charge Amount" (CLP03) is type R') in reject.reason
    assert "20X0.00" not in reject.reason
    assert "CLP*ENC1001*1*20X0.00*" in reject.raw


def test_a_misplaced_segment_in_a_claim_rejects_that_claim() -> None:
    data = DENIAL.replace(b"CAS*PR*1*250.00~\nNM1*QC*1*DOE*JANE****MI*W123456789~",
                          b"NM1*QC*1*DOE*JANE****MI*W123456789~\nCAS*PR*1*250.00~")
    page = parse_x12(data, "f")
    assert {r.claim_id for r in page.records} == {"ENC1002"}
    (reject,) = page.rejects
    assert "Segment CAS*PR not found" in reject.reason
    assert "DOE" not in reject.reason


def test_broken_interchanges_are_quarantined_and_their_siblings_kept() -> None:
    broken_isa = MULT_LOOPS.replace(b"*ZZ*00AA           *", b"*ZZ*00AA*", 1)
    wrong_terminator = DENIAL.replace(b"~", b"|").replace(b"|\nISA", b"~\nISA")
    wrong_terminator = b"ISA" + wrong_terminator[3:105] + b"~" + wrong_terminator[106:]
    data = b"\n".join([DENIAL, broken_isa, MULT_LOOPS, wrong_terminator])
    page = parse_x12(data, "many.835")
    assert len(of(page, Remittance)) == 2 + 1  # the denial file's and mult_loops' claims
    assert page.interchanges == 4
    first, second = page.rejects
    offsets = [len(DENIAL) + 1, len(DENIAL) + len(broken_isa) + len(MULT_LOOPS) + 3]
    assert first.position == f"many.835@{offsets[0]}"
    assert first.reason.startswith("pyx12: ISA Interchange Control Version Number is unknown")
    assert second.position == f"many.835@{offsets[1]}"
    assert "Mandatory segment" in second.reason and "missing" in second.reason
    assert {first.record_kind, second.record_kind} == {INTERCHANGE_KIND}


def test_an_837_is_read_another_transaction_set_is_named_and_junk_before_isa_is_kept(
        ) -> None:
    page = parse_x12(CLAIMS_837, "claims.837")  # tests/collectors/test_x12_claims.py
    assert page.rejects == [] and {r.kind for r in page.records} == {"claim", "claim_line"}
    eligibility = CLAIMS_837.replace(b"ST*837*1179", b"ST*270*1179")
    other = parse_x12(eligibility, "270.x12")
    assert [("270" in r.reason and "835 remittances and 837 claims" in r.reason)
            for r in other.rejects][:1] == [True]
    assert other.rejects[0].raw == eligibility.decode().strip()  # kept, to replay later
    junk = parse_x12(b"hello\n" + DENIAL, "f")
    assert len(of(junk, Remittance)) == 2
    assert [r.reason for r in junk.rejects] == [
        "not an X12 interchange: bytes before the first ISA segment"]


def test_an_interchange_is_complete_only_with_its_iea() -> None:
    assert ends_complete(DENIAL) and ends_complete(DENIAL + b"\n\n")
    assert not ends_complete(DENIAL[:-10]) and not ends_complete(DENIAL[:-200])


PATIENTS = ("DOE", "JANE", "W123456789", "ROE", "RICHARD", "W987654321")


@pytest.mark.parametrize("seed", [1, 2])
def test_damaged_files_never_fail_and_every_reason_is_pyx12s_without_phi(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(12):
        data = bytearray(DENIAL)
        at = rng.randrange(len(data))
        match rng.choice(["flip", "cut", "repeat", "end", "patient"]):
            case "flip":
                data[at] = rng.choice(b"*~:^|09AZ\n\x00\xff")
            case "cut":
                del data[at:at + rng.randrange(1, 20)]
            case "repeat":
                data[at:at] = data[at:at + rng.randrange(1, 40)]
            case "end":
                del data[at:]
            case "patient":  # a malformed patient segment: its values never in a reason
                data = bytearray(DENIAL.replace(b"DOE*JANE****MI*W123456789",
                                                b"DOE*JANE****MI*W123456789*" + b"DOE" * 30))
        page = parse_x12(bytes(data), "f")
        for reject in page.rejects:
            assert reject.reason.startswith(("pyx12", "an X12", "not an X12")), reject.reason
            assert not any(name in reject.reason for name in PATIENTS), reject.reason
        kept = {r.claim_id for r in of(page, Remittance)}
        assert kept <= {"ENC1001", "ENC1002"}
