"""The Revenue cycle page's underpayments: hand-built remittance lines judged against a
contract configured in ``chargeline.yaml`` shown to the cent (cards, the table by payer,
the underpaid lines with their expected, allowed and short $), every link opening the
window's remittance lines it speaks of, and an honest note while no contract is configured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from core.model import RemittanceLine
from store.upsert import upsert_records
from tests.app.conftest import ingested_now, links, signed_in
from tests.app.test_revenue_page import _cas, _drill, _remit

CONTRACT = """payer_contracts:
  - payer_id: PAYA
    name: PAYA Health
    effective_from: 2020-01-01
    default_pct_of_charges: 50
    lines:
      - {hcpcs: C1776, rate_per_unit: 1000}
"""
UNDERPAY_CARDS = {"Underpaid $", "Underpaid lines", "Overpaid $"}


def _line(rid: str, claim: str, n: int, code: str, charge: int, paid: int,
          at: datetime) -> RemittanceLine:
    return RemittanceLine(remittance_id=rid, line_no=n, claim_id=claim, procedure_code=code,
                          revenue_code="0278", charge_amount=Decimal(charge),
                          paid_amount=Decimal(paid), units=Decimal(1), service_on=at.date(),
                          last_updated=at)


def seed_lines(engine: Engine, end: datetime) -> None:
    """Three claims paid three days before ``end``; PAYA's contract: C1776 $1,000 a unit,
    50 % of charges otherwise; PAYB has none.

    - C1 FAC01 PAYA: C1776 charged $3,000, paid $800 + $100 coinsurance: $100 short; an
      A4649 line charged $200 paid $100: in full
    - C2 FAC02 PAYA: two A4649 lines charged $100: one paid $30 ($20 short), one $70 ($20
      over: shown apart, not netted)
    - C3 FAC01 PAYB: one line, not judged
    """
    d = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    rows = [
        _remit("U1", "C1", "FAC01", "PAYA", "1", 3200, 900, d, patient=100),
        _line("U1", "C1", 1, "HC:C1776", 3000, 800, d),
        _cas("U1", "C1", "PR", "2", 100, d, line=1),
        _line("U1", "C1", 2, "HC:A4649", 200, 100, d),
        _remit("U2", "C2", "FAC02", "PAYA", "1", 200, 100, d),
        _line("U2", "C2", 1, "HC:A4649", 100, 30, d),
        _cas("U2", "C2", "CO", "45", 70, d, line=1),
        _line("U2", "C2", 2, "HC:A4649", 100, 70, d),
        _remit("U3", "C3", "FAC01", "PAYB", "1", 100, 10, d),
        _line("U3", "C3", 1, "HC:A4649", 100, 10, d),
    ]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="x12", now=ingested_now(end))


def test_underpayments_against_the_configured_contract(seeded) -> None:
    Path("chargeline.yaml").write_text(CONTRACT)  # the app runs in the test's folder
    seed_lines(seeded.engine, seeded.truth.end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric if m.label in UNDERPAY_CARDS}
    assert cards == {"Underpaid $": "$120.00", "Underpaid lines": "2", "Overpaid $": "$20.00"}
    assert "10.0 % of $1,200.00 expected" in " ".join(c.value for c in at.caption)

    payers = next(df.value for df in at.dataframe if "underpaid" in df.value.columns)
    payers = payers.set_index("payer")
    assert payers.loc["PAYA", ["judged", "underpaid", "short_usd", "over_usd"]].tolist() == [
        4, 2, 120.0, 20.0]
    assert payers.loc["PAYB", ["judged", "underpaid", "not_judged"]].tolist() == [0, 0, 1]
    assert payers.loc["PAYA", "name"] == "PAYA Health"

    lines = next(df.value for df in at.dataframe if "variance_usd" in df.value.columns)
    assert lines[["claim_id", "line_no", "expected_usd", "allowed_usd", "paid_usd",
                  "variance_usd", "term"]].values.tolist() == [
        ["C1", 1, 1000.0, 900.0, 800.0, 100.0, "hcpcs C1776"],
        ["C2", 1, 50.0, 30.0, 30.0, 20.0, "default % of charges"]]
    assert lines["carcs"].tolist() == ["PR-2", "CO-45"]

    drills = {label: q for label, page, q in links(at)
              if page.startswith("drilldown") and ("lines" in label)}
    assert set(drills) == {"Paid lines: 4 judged, 1 without a contract",
                           "PAYA Health: 2 underpaid lines, $120.00"}
    assert _drill(drills["Paid lines: 4 judged, 1 without a contract"]) == (5, "$3,500.00")
    assert _drill(drills["PAYA Health: 2 underpaid lines, $120.00"]) == (4, "$3,400.00")


def test_without_contracts_the_page_says_how_to_configure_them(seeded_sqlite) -> None:
    seed_lines(seeded_sqlite.engine, seeded_sqlite.truth.end)
    at = signed_in("steward")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert any("No payer contract is configured" in i.value for i in at.info)
    assert not UNDERPAY_CARDS & {m.label for m in at.metric}
