"""The underpayment metrics on hand-built remittances (SQLite and PostgreSQL): each kind
of line the definition tells apart, worked out by hand, and the shipped rule judging them.

Contract of payer P1 (from 2026-01-01): HCPCS C1776 $1,000 per unit, revenue code 0636 at
30 % of charges, 50 % of charges otherwise. Payer P2 has none.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from core.config import Settings
from core.metric_values import ValueStatus
from core.model import CanonicalRecord, RemittanceLine
from core.payer_contracts import ContractBook, PayerContract
from metrics.read.common import Read
from metrics.read.reader import StoreMetricReader
from metrics.read.underpayment import judged_lines, underpaid_rows
from rules.evaluate import Outcome, judge
from rules.loader import PACK_DIR, load_rules
from store.upsert import upsert_records
from tests.metrics.remits import NOW, WINDOW, adj, day, remit

CONTRACT = PayerContract.model_validate({
    "payer_id": "P1", "name": "Acme Health", "effective_from": "2026-01-01",
    "default_pct_of_charges": 50,
    "lines": [{"hcpcs": "C1776", "rate_per_unit": 1000},
              {"revenue_code": "0636", "pct_of_charges": 30}]})


def line(rid: str, claim: str, n: int, code: str, rev: str, charge: float, paid: float,
         units: int = 1, served: date = date(2026, 11, 10)) -> RemittanceLine:
    return RemittanceLine(remittance_id=rid, line_no=n, claim_id=claim, procedure_code=code,
                          revenue_code=rev, charge_amount=Decimal(str(charge)),
                          paid_amount=Decimal(str(paid)), units=Decimal(units),
                          service_on=served, last_updated=day(1))


def estate() -> list[CanonicalRecord]:
    return [
        # C1: line 1 paid its fee (2 x $1,000) in full with coinsurance: not short; line 2
        # (0636, 30 % of $100 = $30) paid $20: $10 short; line 3 (default 50 % of $10 =
        # $5) paid $5.005 -> a cent of rounding is no finding
        remit("R1", "C1", "1", 3110, 2025, day(10)),
        line("R1", "C1", 1, "HC:C1776:RT", "0278", 3000, 1600, units=2),
        adj("R1", "C1", "CO-45", 1000, line=1, seq=1),
        adj("R1", "C1", "PR-2", 400, line=1, seq=2),
        line("R1", "C1", 2, "HC:J1100", "0636", 100, 20),
        adj("R1", "C1", "CO-45", 80, line=2),
        line("R1", "C1", 3, "HC:A4649", "0272", 10, 4.99),
        adj("R1", "C1", "CO-45", 5, line=3, seq=1),
        adj("R1", "C1", "PR-1", 0.01, line=3, seq=2),
        # C2: line 1 denied (paid 0, CO-97): a denial, not judged; line 2 overpaid by $40
        # (expected 50 % of $200 = $100, paid $140): reported, not netted; line 3 all
        # deductible and short $25 (expected $250, allowed 0 + $225)
        remit("R2", "C2", "1", 1000, 140, day(12), patient=225),
        line("R2", "C2", 1, "HC:C1713", "0278", 300, 0),
        adj("R2", "C2", "CO-97", 300, line=1),
        line("R2", "C2", 2, "HC:A4649", "0272", 200, 140),
        adj("R2", "C2", "CO-45", 60, line=2),
        line("R2", "C2", 3, "HC:A4649", "0272", 500, 0),
        adj("R2", "C2", "CO-45", 275, line=3, seq=1),
        adj("R2", "C2", "PR-1", 225, line=3, seq=2),
        # C3: payer P2 has no contract: not judged
        remit("R3", "C3", "1", 100, 10, day(12), payer="P2"),
        line("R3", "C3", 1, "HC:A4649", "0272", 100, 10),
        # C4: first paid short in the window ($500 expected of $1,000, paid $300), then a
        # reversal and a corrected payment: the initial remittance alone is judged
        remit("R4", "C4", "1", 1000, 300, day(14), facility="FAC02"),
        line("R4", "C4", 1, "HC:A4649", "0272", 1000, 300),
        adj("R4", "C4", "CO-45", 700, line=1),
        remit("R4b", "C4", "22", -1000, -300, day(20), facility="FAC02"),
        remit("R4c", "C4", "1", 1000, 500, day(20), facility="FAC02"),
        line("R4c", "C4", 1, "HC:A4649", "0272", 1000, 500),
        # C5: initial remittance before the window: out
        remit("R5", "C5", "1", 100, 1, NOW - WINDOW - timedelta(days=1)),
        line("R5", "C5", 1, "HC:A4649", "0272", 100, 1),
        # C6: a date of service before the contract began: not judged
        remit("R6", "C6", "1", 100, 1, day(12)),
        line("R6", "C6", 1, "HC:A4649", "0272", 100, 1, served=date(2025, 12, 31)),
    ]


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    with engine.begin() as conn:
        upsert_records(conn, estate(), source="test-835", now=NOW)
    return engine


def _values(engine: Engine, metric: str, *scope: str) -> dict[str, object]:
    reader = StoreMetricReader(engine, Settings(payer_contracts=[CONTRACT]))
    return {"/".join(v.scope[k] for k in scope): v
            for v in reader.values(metric, window=WINDOW, scope_keys=scope, now=NOW)}


def test_underpaid_lines_and_dollars_per_facility_and_payer(loaded: Engine) -> None:
    lines = _values(loaded, "underpaid_lines", "facility", "payer")
    usd = _values(loaded, "underpayment_usd", "facility", "payer")
    fac1, fac2, p2 = lines["FAC01/P1"], lines["FAC02/P1"], lines["FAC01/P2"]
    assert (fac1.value, fac1.amount, fac1.detail["denominator"]) == (2.0, 35.0, 5.0)
    assert fac1.detail["denied_lines"] == 1 and fac1.detail["not_judged_lines"] == 1
    assert (fac1.detail["over_lines"], fac1.detail["over_usd"]) == (1.0, 40.0)
    assert usd["FAC01/P1"].value == 35.0  # $10 + $25; the $40 over is not netted
    assert usd["FAC01/P1"].detail["denominator"] == 2000 + 30 + 5 + 100 + 250
    assert (fac2.value, fac2.amount) == (1.0, 200.0)
    assert p2.status is ValueStatus.NODATA and p2.detail["not_judged_lines"] == 1
    network = _values(loaded, "underpayment_usd")[""]
    assert network.value == 235.0 and network.detail["underpaid_lines"] == 3


def test_the_drill_down_rows(loaded: Engine) -> None:
    read = Read("underpaid_lines", WINDOW, (), NOW, contracts=(CONTRACT,))
    with loaded.connect() as conn:
        rows = underpaid_rows(conn, read)
    got = [(r["claim_id"], r["line_no"], r["expected_usd"], r["allowed_usd"], r["paid_usd"],
            r["variance_usd"], r["term"], r["carcs"]) for r in rows]
    assert got == [
        ("C4", 1, 500.0, 300.0, 300.0, 200.0, "default % of charges", "CO-45"),
        ("C2", 3, 250.0, 225.0, 0.0, 25.0, "default % of charges", "CO-45, PR-1"),
        ("C1", 2, 30.0, 20.0, 20.0, 10.0, "revenue code 0636", "CO-45"),
    ]


def test_a_scope_key_the_metric_lacks_is_refused(loaded: Engine) -> None:
    with pytest.raises(ValueError, match="cannot be split by 'location'"):
        _values(loaded, "underpaid_lines", "location")


def test_the_pack_rule_judges_underpayments_per_facility_and_payer(loaded: Engine) -> None:
    rule = load_rules([PACK_DIR]).by_id["underpayment-usd"]
    assert (rule.metric, rule.scope.by, rule.warn, rule.fail) == (
        "underpayment_usd", ("facility", "payer"), 500, 2000)
    now = day(19)  # a 7-day window from the 12th: C2, C3, C4 and C6
    reader = StoreMetricReader(loaded, Settings(payer_contracts=[CONTRACT]))
    judged = {(v.scope["facility"], v.scope["payer"]): judge(rule, v).outcome
              for v in reader.values(rule.metric, window=rule.window,
                                     scope_keys=rule.scope.by, now=now)}
    assert judged == {("FAC01", "P1"): Outcome.OK, ("FAC01", "P2"): Outcome.NODATA,
                      ("FAC02", "P1"): Outcome.OK}
    # a contract promising 95 % of charges: C4 is $650 short
    bigger = CONTRACT.model_copy(update={"default_pct_of_charges": Decimal(95)})
    reader = StoreMetricReader(loaded, Settings(payer_contracts=[bigger]))
    judged = {(v.scope["facility"], v.scope["payer"]): (judge(rule, v).outcome, v.value)
              for v in reader.values(rule.metric, window=rule.window,
                                     scope_keys=rule.scope.by, now=now)}
    assert judged == {("FAC01", "P1"): (Outcome.OK, 300.0),  # $50 + $250
                      ("FAC01", "P2"): (Outcome.NODATA, None),
                      ("FAC02", "P1"): (Outcome.WARN, 650.0)}


def test_the_sql_expected_payment_is_the_contract_lookups_to_the_cent(engine: Engine) -> None:
    """The store computes expected payments in integer cents (SQLite keeps money as
    floats); ``core.payer_contracts`` in Decimal. Half-cent ties, fractional units and
    every kind of term give the same cents in both."""
    contract = PayerContract.model_validate({
        "payer_id": "P1", "effective_from": "2026-01-01", "default_pct_of_charges": "62.5",
        "lines": [{"hcpcs": "C1776", "rate_per_unit": "812.55"},
                  {"revenue_code": "0636", "pct_of_charges": 30},
                  {"revenue_code": "0250", "rate_per_unit": "0.35"}]})
    codes = [("HC:C1776:RT", "0278"), ("HC:J1100", "0636"), ("HC:J7050", "0250"),
             ("HC:A4649", "0272"), ("NU:0636", "0636")]
    charges = [0.01, 0.05, 0.15, 10.05, 10.15, 33.33, 1234.55, 99.99, 7.5]
    units = [Decimal(1), Decimal(2), Decimal("0.5"), Decimal("1.333")]
    rows: list[CanonicalRecord] = [remit("RP", "CP", "1", 1, 1, day(10))]
    want = {}
    n = 0
    for code, rev in codes:
        for charge in charges:
            for u in units:
                n += 1
                rows.append(RemittanceLine(
                    remittance_id="RP", line_no=n, claim_id="CP", procedure_code=code,
                    revenue_code=rev, charge_amount=Decimal(str(charge)), paid_amount=0,
                    units=u, service_on=date(2026, 11, 10), last_updated=day(1)))
                got = ContractBook([contract]).expected(
                    "P1", date(2026, 11, 10), code, rev, u, Decimal(str(charge)))
                assert got is not None
                want[n] = int(got.amount * 100)
    with engine.begin() as conn:
        upsert_records(conn, rows, source="test-835", now=NOW)
    read = Read("underpaid_lines", WINDOW, (), NOW, contracts=(contract,))
    j = judged_lines(read)
    with engine.connect() as conn:
        got_sql = dict(conn.execute(select(j.c.line_no, j.c.expected)).all())
    assert got_sql == want
