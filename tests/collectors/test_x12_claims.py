"""X12 837 claim files -> claim and claim line records, through pyx12: pyx12's own public
837P and 837I samples (tests/data/x12/README.md), its invalid ones quarantined with its
reason while valid siblings are kept, the simulator's 005010X223A2 837I, and the
x12_files source writing them into SQLite and PostgreSQL without overwriting a claim
another source gave."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from collectors.base import CollectContext
from collectors.ingest import ingest_paths
from collectors.plugins.x12_files import X12FilesCollector
from collectors.x12_records import INTERCHANGE_KIND, parse_x12
from core.config import Settings, SourceConfig
from core.model import Claim, ClaimLine
from store.schema import claim_lines, claims, quarantined_records
from store.upsert import upsert_records

DATA = Path(__file__).parents[1] / "data" / "x12"
P837 = (DATA / "pyx12-837p-simple-4010.txt").read_bytes()  # 004010X098A1
I837 = (DATA / "pyx12-837i-simple-4010.txt").read_bytes()  # 004010X096A1
TRAILER_ERRORS = (DATA / "pyx12-837-trailer_errors-4010.txt").read_bytes()  # invalid
TRAILING_TERMS = (DATA / "pyx12-837-trailing_terms-4010.txt").read_bytes()  # one bad claim


def lines_of(records: list) -> dict[tuple[str, int], ClaimLine]:
    return {(r.claim_id, r.line_no): r for r in records if isinstance(r, ClaimLine)}


def test_pyx12s_837p_gives_claims_and_lines_with_modifiers_dates_and_control_numbers(
        ) -> None:
    page = parse_x12(P837, "p.837", {"999999999": "FAC09"})
    assert page.rejects == []
    heads = [r for r in page.records if isinstance(r, Claim)]
    assert [(c.claim_id, c.total, c.facility_id, c.status) for c in heads] == [
        ("3215338", Decimal(21), "FAC09", "active"), ("5555", Decimal(21), "FAC09", "active")]
    assert heads[0].created_at == datetime(2004, 11, 5, 15, 26, tzinfo=UTC)  # BHT04/05
    assert heads[0].encounter_id == "" and heads[0].patient_token == ""  # never read
    lines = lines_of(page.records)
    assert len(lines) == 5
    first = lines["3215338", 1]
    assert (first.procedure_code, first.modifiers, first.units, first.charge_amount) == (
        "H2015", "TT", Decimal(12), Decimal(21))  # SV101 HC:H2015:TT, SV104, SV102
    assert (first.service_on, first.line_control, first.revenue_code) == (
        date(2004, 4, 7), "1057296", "")  # DTP*472, REF*6R; a professional line has none
    assert lines["5555", 3].procedure_code == "H2017"


def test_pyx12s_837i_gives_revenue_codes_and_the_first_day_of_a_service_range() -> None:
    page = parse_x12(I837, "i.837")
    assert page.rejects == []
    lines = lines_of(page.records)
    assert [(k, v.revenue_code) for k, v in sorted(lines.items())] == [
        (("12522228", 1), "0100"), (("12522228", 2), "0101"), (("12522228", 3), "0102"),
        (("12522229", 1), "0103"), (("12522229", 2), "0104"), (("12522229", 3), "0105")]
    line = lines["12522228", 2]
    assert (line.service_on, line.units, line.charge_amount, line.line_control) == (
        date(2003, 12, 14), Decimal(5), Decimal(0), "")  # RD8 20031214-20031218, SV205
    # an unmapped billing provider is stored under its id as written (NM1*85 NM109)
    assert {r.facility_id for r in page.records if isinstance(r, Claim)} == {"555112222"}


def test_a_bad_837_interchange_is_quarantined_with_pyx12s_reason_and_its_siblings_kept(
        ) -> None:
    data = P837 + b"\n" + TRAILER_ERRORS + b"\n" + I837
    page = parse_x12(data, "batch.837")
    (bad,) = page.rejects
    assert bad.record_kind == INTERCHANGE_KIND
    assert bad.position == f"batch.837@{len(P837) + 1}"
    assert bad.reason.startswith("pyx12: interchange 000484950 error 001: IEA id=333 does "
                                 "not match ISA id=000484950")
    assert bad.raw == TRAILER_ERRORS + b"\n"
    assert {r.claim_id for r in page.records if isinstance(r, Claim)} == {
        "3215338", "5555", "12522228", "12522229"}
    assert len(lines_of(page.records)) == 11


def test_a_claim_pyx12_faults_is_refused_alone() -> None:
    page = parse_x12(TRAILING_TERMS, "t.837")
    (bad,) = page.rejects
    assert bad.record_kind == "claim" and "CLM 12522228" in bad.position
    assert bad.reason.startswith("pyx12: segment CLM #22 (Claim Information) at line 24: "
                                 "Segment contains trailing element terminators")
    assert page.records == []  # the file's only claim; its envelope is not refused
    assert page.interchanges == 1


def test_the_simulators_837i_reads_back_exactly(tmp_path: Path) -> None:
    from simulator.config import EstateConfig
    from simulator.estate import build_estate
    from simulator.payers import npi
    from simulator.x12_837 import plan_claim_files, render_claim_file

    estate = build_estate(EstateConfig(seed=3, facilities=1, days=1, volume_scale=0.1,
                                       end=datetime(2026, 11, 20, tzinfo=UTC)), progress=False)
    files = plan_claim_files(estate)
    facilities = {f.facility.facility_id: f.facility for f in estate.facilities}
    cdm = {c.cdm_code: c for c in estate.catalog.cdm}
    text = render_claim_file(files[0], facilities, cdm).encode()
    page = parse_x12(text, "sim.837", {npi(1): "FAC01"})
    assert page.rejects == []
    want = {claim.claim_id: claim for claim, _payer in files[0].claims}
    heads = {r.claim_id: r for r in page.records if isinstance(r, Claim)}
    assert set(heads) == set(want) and {h.facility_id for h in heads.values()} == {"FAC01"}
    lines = lines_of(page.records)
    for claim_id, claim in want.items():
        assert heads[claim_id].total == sum(Decimal(str(c.amount)) for c in claim.charges)
        for n, charge in enumerate(claim.charges, 1):
            line = lines[claim_id, n]
            entry = cdm[charge.cdm_code]
            assert (line.line_control, line.procedure_code, line.revenue_code) == (
                charge.charge_id, entry.hcpcs, entry.revenue_code)
            assert (line.units, line.charge_amount) == (Decimal(charge.quantity),
                                                        Decimal(str(charge.amount)))


def test_the_source_stores_837_lines_and_keeps_a_claim_it_already_holds(
        engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    folder.mkdir()
    path = folder / "20041105.837"
    path.write_bytes(P837 + b"\n" + TRAILER_ERRORS)
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))
    known = Claim(claim_id="5555", facility_id="FAC01", encounter_id="ENC-5555",
                  patient_token="tok", total=Decimal(21), status="active",
                  created_at=datetime(2004, 11, 1, tzinfo=UTC), outcome="complete",
                  paid_amount=Decimal(10), last_updated=datetime(2004, 11, 1, tzinfo=UTC))
    with engine.begin() as conn:
        upsert_records(conn, [known], source="billing")
    source = SourceConfig(name="claims-837", kind="x12_files", path=str(folder),
                          facility_by_payee={"999999999": "FAC09"})
    ctx = CollectContext(source, Settings(), engine, None, "run1")
    X12FilesCollector().poll(ctx)
    with engine.connect() as conn:
        heads = {r.claim_id: r for r in conn.execute(select(claims))}
        stored = conn.execute(select(claim_lines.c.claim_id, claim_lines.c.line_no,
                                     claim_lines.c.line_control, claim_lines.c.source)
                              .order_by(claim_lines.c.claim_id, claim_lines.c.line_no)).all()
        parked = conn.execute(select(quarantined_records.c.record_kind,
                                     quarantined_records.c.reason)).all()
    assert heads["5555"].encounter_id == "ENC-5555" and heads["5555"].outcome == "complete"
    assert heads["5555"].source == "billing"  # the 837 did not overwrite it
    assert (heads["3215338"].facility_id, heads["3215338"].source) == ("FAC09", "claims-837")
    assert [tuple(r) for r in stored] == [
        ("3215338", 1, "1057296", "claims-837"), ("3215338", 2, "1057297", "claims-837"),
        ("5555", 1, "1057296", "claims-837"), ("5555", 2, "1057297", "claims-837"),
        ("5555", 3, "105797", "claims-837")]
    assert [(k, r.startswith("pyx12: interchange 000484950")) for k, r in parked] == [
        (INTERCHANGE_KIND, True)]
    X12FilesCollector().poll(CollectContext(source, Settings(), engine, None, "run2"))
    with engine.connect() as conn:  # read once: nothing new on the next pass
        assert len(conn.execute(select(claim_lines)).all()) == 5


def test_chargeline_ingest_reads_837_files_as_it_reads_835s(engine: Engine,
                                                             tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "claims.837").write_bytes(P837)
    (folder / "institutional.txt").write_bytes(I837)  # by content, whatever its name
    summary = ingest_paths(Settings(), engine, [folder], source_name="claims-backfill")
    assert (summary.quarantined, summary.unrecognised) == (0, [])
    with engine.connect() as conn:
        assert len(conn.execute(select(claims)).all()) == 4
        assert len(conn.execute(select(claim_lines)).all()) == 11
    again = ingest_paths(Settings(), engine, [folder], source_name="claims-backfill")
    assert again.written == 0  # read again: nothing new or changed
