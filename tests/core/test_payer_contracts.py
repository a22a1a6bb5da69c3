"""Payer contracts: the most specific term valid on the date of service decides a line's
expected payment, and a bad contract in the config file is named with its field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError
from core.payer_contracts import ContractBook, PayerContract, hcpcs_of

D = Decimal

MEDICARE = {"payer_id": "99101", "name": "NORTHSTAR", "default_pct_of_charges": 35,
            "effective_from": "2025-01-01",
            "lines": [{"hcpcs": "C1776", "rate_per_unit": "2900.00"},
                      {"revenue_code": "0278", "pct_of_charges": "40"},
                      {"revenue_code": "0636", "rate_per_unit": "1.25"}]}
OLD = {"payer_id": "99202", "name": "BLUE", "default_pct_of_charges": 55,
       "effective_from": "2025-01-01", "effective_to": "2026-11-16"}
NEW = {"payer_id": "99202", "name": "BLUE", "default_pct_of_charges": 58,
       "effective_from": "2026-11-17"}


def _book(*contracts: dict) -> ContractBook:
    return ContractBook(PayerContract.model_validate(c) for c in contracts)


@pytest.mark.parametrize(("procedure", "revenue", "units", "charge", "want", "basis"), [
    # the HCPCS fee x units beats the revenue code's carve-out
    ("HC:C1776", "0278", D(2), D("9000.00"), D("5800.00"), "hcpcs C1776"),
    ("HC:C1776:RT", "0278", D(1), D("9000.00"), D("2900.00"), "hcpcs C1776"),
    # another implant: the revenue code's percent of the line's charge
    ("HC:C1713", "0278", D(3), D("1000.05"), D("400.02"), "revenue code 0278"),
    # a revenue code fee per unit (drugs), HCPCS without a term of its own
    ("HC:J1100", "0636", D(4), D("60.00"), D("5.00"), "revenue code 0636"),
    # nothing specific: the default percent, half-up to the cent
    ("HC:A4649", "0272", D(1), D("10.01"), D("3.50"), "default % of charges"),
    ("HC:A4649", "0272", D(1), D("10.03"), D("3.51"), "default % of charges"),
    # revenue code only (NU qualifier)
    ("NU:0278", "0278", D(1), D("100.00"), D("40.00"), "revenue code 0278"),
])
def test_the_most_specific_term_decides(procedure: str, revenue: str, units: Decimal,
                                        charge: Decimal, want: Decimal, basis: str) -> None:
    got = _book(MEDICARE).expected("99101", date(2026, 11, 18), procedure, revenue, units,
                                   charge)
    assert got is not None and (got.amount, got.basis) == (want, basis)


def test_the_contract_valid_on_the_date_of_service_pays() -> None:
    book = _book(OLD, NEW)
    line = ("HC:A4649", "0272", D(1), D("100.00"))
    assert book.expected("99202", date(2026, 11, 16), *line).amount == D("55.00")
    assert book.expected("99202", date(2026, 11, 17), *line).amount == D("58.00")
    # before any contract, without a date, another payer: not judged
    assert book.expected("99202", date(2024, 12, 31), *line) is None
    assert book.expected("99202", None, *line) is None
    # a credit line (no charge, no units) is not judged
    assert book.expected("99202", date(2026, 11, 17), "HC:A4649", "0272", D(1), D(0)) is None
    assert book.expected("99202", date(2026, 11, 17), "HC:A4649", "0272", D(0), D(9)) is None
    assert book.expected("99404", date(2026, 11, 17), *line) is None


def test_a_contract_without_default_judges_only_its_rate_sheet() -> None:
    carve = {"payer_id": "1", "effective_from": "2026-01-01",
             "lines": [{"hcpcs": "c1776", "rate_per_unit": 100}]}
    book = _book(carve)
    assert book.expected("1", date(2026, 2, 1), "HC:C1776", "0278", D(1), D(500)).amount == 100
    assert book.expected("1", date(2026, 2, 1), "HC:C1713", "0278", D(1), D(500)) is None


def test_hcpcs_of_reads_the_svc01_qualifier() -> None:
    assert hcpcs_of("HC:C1776:RT:LT") == "C1776"
    assert hcpcs_of("NU:0278") == ""
    assert hcpcs_of("c1776") == "C1776"


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    monkeypatch.setenv("CHARGELINE_CONFIG", str(path))
    load_settings(phi_secret="x")


@pytest.mark.parametrize(("contract", "message"), [
    ("{payer_id: '99101', name: NORTHSTAR, effective_from: 2026-01-01, "
     "lines: [{hcpcs: C1776, rate_per_unit: lots}]}",
     r"payer_contracts\.0.*contract 99101 \(NORTHSTAR\): lines\.0\.rate_per_unit: "),
    ("{payer_id: '99101', effective_from: 2026-01-01, "
     "lines: [{hcpcs: C1776, revenue_code: '0278', rate_per_unit: 1}]}",
     r"contract 99101: lines\.0: give exactly one of hcpcs or revenue_code"),
    ("{payer_id: '99101', effective_from: 2026-01-01, lines: [{revenue_code: '0278'}]}",
     r"contract 99101: lines\.0: give exactly one of rate_per_unit or pct_of_charges"),
    ("{payer_id: '99101', effective_from: 2026-01-01, "
     "lines: [{hcpcs: C1776, rate_per_unit: 812.505}]}",
     r"contract 99101: lines\.0\.rate_per_unit: .*no more than 2 decimal places"),
    ("{payer_id: '99101', effective_from: 2026-01-01, default_pct_of_charges: 135}",
     r"contract 99101: default_pct_of_charges: .*less than or equal to 100"),
    ("{payer_id: '99101', effective_from: 2026-02-01, effective_to: 2026-01-01}",
     r"contract 99101: effective_to 2026-01-01 is before effective_from 2026-02-01"),
    ("{payer_id: '99101', effective_from: 2026-01-01, lines: [{revenue_code: '0278', "
     "pct_of_charges: 1}, {revenue_code: '0278', rate_per_unit: 2}]}",
     r"contract 99101: lines: revenue code 0278 is given twice"),
    ("{payer_id: '99101', name: A, effective_from: 2026-01-01}\n"
     "  - {payer_id: '99101', name: B, effective_from: 2026-06-01}",
     r"contracts of payer 99101 overlap: 99101 \(A\) from 2026-01-01 to open and 99101 \(B\)"),
])
def test_a_bad_contract_is_named_with_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               contract: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, monkeypatch, f"payer_contracts:\n  - {contract}\n")


def test_contracts_load_from_the_config_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payer_contracts:\n"
                    "  - {payer_id: '99202', default_pct_of_charges: 55, "
                    "effective_from: 2025-01-01, effective_to: 2026-11-16}\n"
                    "  - {payer_id: '99202', default_pct_of_charges: 58, "
                    "effective_from: 2026-11-17}\n")
    monkeypatch.setenv("CHARGELINE_CONFIG", str(path))
    settings = load_settings(phi_secret="x")
    assert [c.default_pct_of_charges for c in settings.payer_contracts] == [55, 58]
