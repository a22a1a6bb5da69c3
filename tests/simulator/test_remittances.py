"""The estate's 835 remittances: envelopes that count right, money that balances, denials
that are exactly the truth's, the same bytes for the same seed, none on a clean estate."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.runner import run_source
from core.config import Settings, SourceConfig
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.export import export_estate
from simulator.files import write_estate_files
from simulator.payers import contract_book, npi
from simulator.sources import remittance_source
from simulator.timefmt import DAY
from simulator.x12_835 import READY_DELAY, plan_files
from store.schema import quarantined_records, remittance_lines, remittances

END = datetime(2026, 11, 20, tzinfo=UTC)


def _config(seed: int = 7, faults: str = "default", **overrides: float) -> EstateConfig:
    return EstateConfig(seed=seed, facilities=2, days=7, end=END, volume_scale=0.3,
                        faults=FaultRates.preset(faults, **overrides))


@pytest.fixture(scope="module")
def estate() -> Estate:
    return build_estate(_config(), progress=False)


@pytest.fixture(scope="module")
def written(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("remit")
    write_estate_files(estate, out)
    return out


def _segments(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="ascii")
    assert text.endswith("~\n")
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def _files(out: Path) -> dict[str, list[list[str]]]:
    return {p.relative_to(out / "x12").as_posix(): _segments(p)
            for p in sorted((out / "x12").rglob("*.835"))}


def _transactions(segs: list[list[str]]) -> list[list[list[str]]]:
    out, current = [], None
    for s in segs:
        if s[0] == "ST":
            current = []
        if current is not None:
            current.append(s)
        if s[0] == "SE":
            out.append(current)
            current = None
    return out


def _money(text: str) -> Decimal:
    return Decimal(text or "0")


def _claims(segs: list[list[str]]) -> list[dict]:
    """Each CLP with its CAS total (claim and lines), its SVC lines and their CAS totals."""
    claims: list[dict] = []
    line: dict | None = None
    for s in segs:
        if s[0] == "CLP":
            claims.append({"clp": s, "cas": Decimal(0), "lines": [], "remarks": []})
            line = None
        elif s[0] == "SVC":
            line = {"svc": s, "cas": Decimal(0), "ref": None, "codes": []}
            claims[-1]["lines"].append(line)
        elif s[0] == "CAS":
            amounts = sum(_money(s[i]) for i in range(3, len(s), 3))
            claims[-1]["cas"] += amounts
            if line is not None:
                line["cas"] += amounts
                line["codes"] += [f"{s[1]}-{s[i]}" for i in range(2, len(s), 3)]
        elif s[0] == "REF" and s[1] == "6R":
            assert line is not None
            line["ref"] = s[2]
        elif s[0] == "LQ":
            claims[-1]["remarks"].append(s[2])
        elif s[0] in ("SE", "LX"):
            line = None
    return claims


def test_envelopes_count_right(written: Path) -> None:
    files = _files(written)
    assert len(files) >= 8
    controls: Counter[tuple[str, str]] = Counter()
    for name, segs in files.items():
        payer, day = name.split("/")
        isa = (written / "x12" / name).read_text(encoding="ascii")[:106]
        # fixed width: element separator at 3, component at 104, segment terminator at 105
        assert isa[3] == "*" and isa[104] == ":" and isa[105] == "~" and isa.count("*") == 16
        assert segs[0][0] == "ISA" and segs[0][6].strip() == payer and segs[0][12] == "00501"
        assert segs[1][0] == "GS" and segs[1][1] == "HP" and segs[1][8] == "005010X221A1"
        assert segs[-1] == ["IEA", "1", segs[0][13]]
        assert segs[-2] == ["GE", str(sum(s[0] == "ST" for s in segs)), segs[1][6]]
        assert int(segs[1][6]) == int(segs[0][13])
        controls[(payer, segs[0][13])] += 1
        for n, tx in enumerate(_transactions(segs), start=1):
            st, se = tx[0], tx[-1]
            assert st == ["ST", "835", f"{n:04d}"]
            assert se == ["SE", str(len(tx)), st[2]]  # ST to SE inclusive
            bpr = next(s for s in tx if s[0] == "BPR")
            assert bpr[-1] == day.removesuffix(".835")  # BPR16, the payment date
    assert max(controls.values()) == 1  # control numbers unique per sender


def test_money_balances(written: Path) -> None:
    for segs in _files(written).values():
        file_paid = Decimal(0)
        for tx in _transactions(segs):
            claims = _claims(tx)
            bpr = next(s for s in tx if s[0] == "BPR")
            paid = sum((_money(c["clp"][4]) for c in claims), Decimal(0))
            assert _money(bpr[2]) == paid
            assert bpr[1] == ("I" if paid else "H")
            file_paid += paid
            for c in claims:
                clp = c["clp"]
                # CLP03 - CLP04 is every adjustment; SVC02 - SVC03 its line's
                assert _money(clp[3]) - _money(clp[4]) == c["cas"], clp
                assert _money(clp[3]) == sum(_money(line["svc"][2]) for line in c["lines"])
                for line in c["lines"]:
                    svc = line["svc"]
                    assert _money(svc[2]) - _money(svc[3]) == line["cas"], svc
        assert file_paid >= 0


def test_the_truth_lists_exactly_the_denials_in_the_files(estate: Estate,
                                                          written: Path) -> None:
    truth = estate.truth["remittances"]
    claims = [(name, c) for name, segs in _files(written).items() for c in _claims(segs)]
    denied_in_files = {c["clp"][1] for _, c in claims if c["clp"][2] == "4"}
    items = {row["claim_id"]: row for row in truth["items"]}
    assert {cid for cid, row in items.items() if row["status"] == "4"} == denied_in_files
    assert truth["claims"] == len(claims) == len(items)
    assert truth["denied_claims"] == len(denied_in_files) > 0
    denied_usd = sum(_money(c["clp"][3]) for _, c in claims if c["clp"][2] == "4")
    assert Decimal(str(truth["denied_usd"])) == denied_usd
    assert sum(t["denied_claims"] for t in truth["by_facility"].values()) == len(denied_in_files)
    assert sum(t["claims"] for t in truth["by_payer"].values()) == len(claims)
    for name, c in claims:
        row = items[c["clp"][1]]
        assert row["file"] == name and Decimal(str(row["paid"])) == _money(c["clp"][4])
        if c["clp"][2] == "4":  # every line carries the claim's CARC, nothing paid
            code = f"{row['denial']['group']}-{row['denial']['reason']}"
            assert all(line["codes"] == [code] for line in c["lines"])
            assert sorted(set(c["remarks"])) == row["denial"]["remarks"]
        for line in c["lines"]:  # REF*6R, where the payer sends it, is the charge id
            n = c["lines"].index(line)
            assert line["ref"] in (None, row["charge_ids"][n])
            assert (line["ref"] is None) == (n + 1 in row["lines_without_control"])
    # denied lines of paid claims: the line in the file is denied with that CARC
    lines = [(row, d) for row in items.values() for d in row.get("denied_lines", [])]
    assert truth["denied_lines"] == len(lines) > 0
    by_claim = {c["clp"][1]: c for _, c in claims}
    for row, d in lines:
        line = by_claim[row["claim_id"]]["lines"][d["line_no"] - 1]
        assert line["svc"][3] == "0" and f"{d['group']}-{d['reason']}" in line["codes"]
    reasons = {row["denial"]["reason"] for row in items.values() if "denial" in row}
    assert {"16", "4", "97", "29"} & reasons and len(reasons) >= 3


def test_a_share_of_lines_lacks_the_control_number(estate: Estate) -> None:
    lines = [line for f in estate.facilities for r in f.remittances for line in r.lines]
    missing = sum(not line.control for line in lines) / len(lines)
    assert 0.2 < missing < 0.4


def test_same_seed_same_files_and_another_seed_differs(written: Path,
                                                       tmp_path: Path) -> None:
    again = build_estate(_config(), progress=False)
    write_estate_files(again, tmp_path / "a")
    mine = {p.name: p.read_bytes() for p in (written / "x12").rglob("*.835")}
    assert {p.name: p.read_bytes() for p in (tmp_path / "a" / "x12").rglob("*.835")} == mine
    other = build_estate(_config(seed=8), progress=False)
    write_estate_files(other, tmp_path / "b")
    assert {p.name: p.read_bytes() for p in (tmp_path / "b" / "x12").rglob("*.835")} != mine


def test_a_clean_estate_has_no_denials(tmp_path: Path) -> None:
    estate = build_estate(_config(faults="none"), progress=False)
    write_estate_files(estate, tmp_path)
    truth = estate.truth["remittances"]
    assert truth["claims"] > 0 and truth["denied_claims"] == truth["denied_lines"] == 0
    assert truth["denied_usd"] == 0
    for segs in _files(tmp_path).values():
        for c in _claims(segs):
            assert c["clp"][2] == "1"
            assert all(code in ("CO-45", "PR-1", "PR-2")
                       for line in c["lines"] for code in line["codes"])


def test_files_appear_as_their_payment_dates_pass(estate: Estate, tmp_path: Path) -> None:
    writer = write_estate_files(estate, tmp_path, estate.end_ms - 2 * DAY)
    before = set(_files(tmp_path))
    planned = [f for f in plan_files(estate) if f.ready_ms <= estate.end_ms]
    assert before == {f.path for f in planned if f.ready_ms <= estate.end_ms - 2 * DAY}
    assert writer.x12.write_until(estate.end_ms) == len(planned) - len(before) > 0
    assert writer.x12.write_until(estate.end_ms) == 0  # each file once
    assert set(_files(tmp_path)) == {f.path for f in planned}
    assert all(f.ready_ms == f.paid_ms + READY_DELAY for f in planned)


def test_no_mrn_or_birth_date_in_the_files(estate: Estate, written: Path) -> None:
    text = "".join(p.read_text(encoding="ascii") for p in (written / "x12").rglob("*.835"))
    for fac in estate.facilities:
        for r in fac.remittances:
            assert r.claim.encounter.patient.mrn not in text
    assert "*DMG*" not in text and "MRN" not in text


def test_the_export_writes_and_names_the_x12_folder(estate: Estate, tmp_path: Path) -> None:
    summary = export_estate(estate, tmp_path / "export")
    out = tmp_path / "export"
    files = sorted(p.relative_to(out) for p in (out / "x12").rglob("*.835"))
    assert files and set(files) <= set(summary.files)
    assert f"{out / 'x12'}" in summary.ingest_command()
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert str(out / "x12") in readme
    assert f"{npi(1)} FAC01, {npi(2)} FAC02" in readme  # the payee NPIs to map


def test_pyx12_finds_no_error_in_the_files(tmp_path: Path) -> None:
    """The files validate against pyx12's 005010X221A1 map (its code lists included),
    on an estate with every kind of denial and a line billed without HCPCS."""
    params = pytest.importorskip("pyx12.params")
    document = pytest.importorskip("pyx12.x12n_document")

    estate = build_estate(_config(faults="high"), progress=False)
    write_estate_files(estate, tmp_path)
    files = sorted((tmp_path / "x12").rglob("*.835"))
    chosen = [p for p in files if "*NU:" in p.read_text(encoding="ascii")][:1] + files[:3]
    assert len(chosen) == 4
    param = params.params()
    for path in chosen:
        assert document.x12n_document(param, str(path), None, None), path


def test_the_x12_collector_reads_exactly_the_truth(estate: Estate, written: Path,
                                                   engine: Engine, store_url: str) -> None:
    """The 835 files through the x12_files source: every claim once, with its facility,
    payer, status and money; nothing quarantined; the denied set and $ as the truth says."""
    source = SourceConfig(**remittance_source(written))
    result = run_source(Settings(database_url=store_url, sources=[source]), engine, source,
                        sleep=lambda _: None)
    assert result is not None and result.status.value == "ok", result
    truth = estate.truth["remittances"]
    items = {row["claim_id"]: row for row in truth["items"]}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quarantined_records)).scalar() == 0
        rows = conn.execute(select(remittances)).mappings().all()
        lines = conn.execute(select(remittance_lines.c.claim_id, remittance_lines.c.line_no,
                                    remittance_lines.c.line_control)).all()
    assert {r["claim_id"] for r in rows} == set(items) and len(rows) == truth["claims"]
    for r in rows:
        row = items[r["claim_id"]]
        assert (r["facility_id"], r["payer_id"], r["status_code"]) == (
            row["facility_id"], row["payer_id"], row["status"])
        assert Decimal(r["charge_amount"]) == Decimal(str(row["charge"]))
        assert Decimal(r["paid_amount"]) == Decimal(str(row["paid"]))
    denied = [r for r in rows if r["status_code"] == "4"]
    assert len(denied) == truth["denied_claims"] > 0
    assert sum(Decimal(r["charge_amount"]) for r in denied) == Decimal(str(truth["denied_usd"]))
    for claim_id, line_no, control in lines:
        row = items[claim_id]
        expected = "" if line_no in row["lines_without_control"] else row["charge_ids"][
            line_no - 1]
        assert control == expected


def test_contracted_payers_allow_their_contract_and_the_truth_lists_each_short_line(
        estate: Estate) -> None:
    """Every paid line of a payer with a contract allows exactly the contract's amount,
    except the truth's underpaid lines, each short by its ``short`` (5-30 % of the
    expected, at least 2 cents) under its CARC; an underpaid line with CO-59 still pays."""
    book = contract_book()
    short = {(row["claim_id"], row["line_no"]): row
             for row in estate.truth["underpayment"]["items"]}
    judged = 0
    for f in plan_files(estate):
        if f.ready_ms > estate.hl7.as_of:  # the truth is as of the window's end
            continue
        for r in f.remittances:
            for line in r.lines:
                if line.denied or r.payer_id not in book.by_payer:
                    assert line.expected_cents is None or line.denied
                    continue
                judged += 1
                patient = sum(c for g, _, c in line.adjustments if g == "PR")
                allowed = line.paid_cents + patient
                row = short.pop((r.claim.claim_id, line.line_no), None)
                assert line.expected_cents is not None
                if row is None:
                    assert allowed == line.expected_cents
                    assert all(rc == "45" for g, rc, _ in line.adjustments if g == "CO")
                    continue
                cut = line.expected_cents - allowed
                assert round(cut / 100, 2) == row["short"] and cut >= 2
                assert cut <= round(line.expected_cents * 0.30) or cut == 2
                if row["carc"] == "CO-59":
                    assert ("CO", "59", cut) in line.adjustments and line.paid_cents > 0
                else:
                    assert row["carc"] == "CO-45"
    assert judged == estate.truth["underpayment"]["judged_lines"] and short == {}
    assert estate.truth["underpayment"]["underpaid_lines"] > 0


def test_a_clean_estate_pays_every_contract_in_full() -> None:
    clean = build_estate(_config(faults="none"), progress=False).truth["underpayment"]
    assert clean["underpaid_lines"] == 0 and clean["items"] == []
    assert clean["judged_lines"] > 0


def test_the_demos_configuration_carries_the_contracts_the_payers_pay_by(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chargeline.demo import _write_config
    from core.config import load_settings
    from simulator.payers import payer_contracts

    path = _write_config(tmp_path, "http://127.0.0.1:8700", "http://127.0.0.1:8501", 2525)
    monkeypatch.setenv("CHARGELINE_CONFIG", str(path))
    settings = load_settings(phi_secret="x")
    assert settings.payer_contracts == payer_contracts()
    assert {c.payer_id for c in settings.payer_contracts} == {"99101", "99202", "99303"}
