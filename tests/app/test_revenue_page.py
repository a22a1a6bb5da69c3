"""The Revenue cycle page: the denial metrics of a few hand-built remittances shown to the
cent, every link opening exactly the remittances its number counts in the drill-down, and
an honest empty state while no remittance source exists."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine

from app.data.kpis import latest_bucket
from app.shaping.window import window_ending
from core.config import ChargeSla
from core.model import (
    CdmEntry,
    Charge,
    Claim,
    ContractPrice,
    Encounter,
    InventoryTransaction,
    InventoryTxnType,
    Item,
    ItemClass,
    Remittance,
    RemittanceAdjustment,
)
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from store.upsert import upsert_records
from tests.app.conftest import ingested_now, links, page_text, signed_in

Money = Decimal
BILLING_CARDS = {"Charge lag (mean)", "Charge lag (p90)", "Late charges (% of billed $)",
                 "Discharged not final billed"}
PRICE_CARDS = {"Chargemaster drift", "Supply cost above contract"}  # on request (a toggle)


def _window_end(engine: Engine) -> datetime:
    """The end of the default 7-day window the page reads (``app.ui.current_window``)."""
    with engine.connect() as conn:
        latest = latest_bucket(conn)
    assert latest is not None
    return window_ending(latest, timedelta(days=7)).end


def _remit(rid: str, claim: str, fac: str, payer: str, status: str, charge: int, paid: int,
           at: datetime, *, patient: int = 0) -> Remittance:
    return Remittance(remittance_id=rid, claim_id=claim, facility_id=fac, payer_id=payer,
                      payer_name=f"{payer} Health", status_code=status,
                      charge_amount=Money(charge), paid_amount=Money(paid),
                      patient_responsibility=Money(patient), paid_at=at, last_updated=at)


def _cas(rid: str, claim: str, group: str, reason: str, amount: int, at: datetime, *,
         line: int = 0) -> RemittanceAdjustment:
    return RemittanceAdjustment(remittance_id=rid, line_no=line, seq=1, claim_id=claim,
                                group_code=group, reason_code=reason, amount=Money(amount),
                                last_updated=at)


def seed_remittances(engine: Engine, end: datetime) -> None:
    """Six claims around a window ending at ``end`` (the dashboard's default 7 days):

    - C1 FAC01 PAYA denied (CLP02 4, CO-16 $1000), paid on appeal the next day: not open
    - C2 FAC01 PAYB paid 0 with CO-97 $500 and nothing to the patient: a denial, open
    - C3 FAC02 PAYA paid (CO-45 write-down), then reversed: not denied
    - C4 FAC02 PAYA denied, CO-4 $200 on its service line: open
    - C5 FAC01 PAYB paid 0, all deductible (PR-1): not a denial
    - C6 FAC02 PAYB first paid 30 days ago, denied in the window: not the window's claim
    """
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    d1, d2, old = day - timedelta(days=3), day - timedelta(days=2), day - timedelta(days=30)
    rows = [
        _remit("R1", "C1", "FAC01", "PAYA", "4", 1000, 0, d1),
        _cas("R1", "C1", "CO", "16", 1000, d1),
        _remit("R1b", "C1", "FAC01", "PAYA", "1", 1000, 800, d2),
        _remit("R2", "C2", "FAC01", "PAYB", "1", 500, 0, d1),
        _cas("R2", "C2", "CO", "97", 500, d1),
        _remit("R3", "C3", "FAC02", "PAYA", "1", 400, 300, d1),
        _cas("R3", "C3", "CO", "45", 100, d1),
        _remit("R3r", "C3", "FAC02", "PAYA", "22", -400, -300, d2),
        _remit("R4", "C4", "FAC02", "PAYA", "4", 200, 0, d2),
        _cas("R4", "C4", "CO", "4", 200, d2, line=1),
        _remit("R5", "C5", "FAC01", "PAYB", "1", 250, 0, d1, patient=250),
        _cas("R5", "C5", "PR", "1", 250, d1),
        _remit("R6a", "C6", "FAC02", "PAYB", "1", 900, 900, old),
        _remit("R6", "C6", "FAC02", "PAYB", "4", 900, 0, d2),
        _cas("R6", "C6", "CO", "16", 900, d2),
    ]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="x12", now=ingested_now(end))


def _drill(params: dict[str, list[str]]) -> tuple[int, str]:
    """What the drill-down shows for a link's parameters: its count and its $ text."""
    at = signed_in("executive")
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("views/drilldown.py").run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    found = re.search(r"\*\*([\d,]+)\*\* .* · \*\*(\$[\d,.]+)\*\*", text)
    assert found, text
    return int(found.group(1).replace(",", "")), found.group(2)


def _values(y: Any) -> list[float]:
    """A plotly trace's values as written: a list, or a typed array (dtype + base64)."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
    return y


def test_the_page_shows_the_denials_and_every_link_opens_its_remittances(seeded) -> None:
    seed_remittances(seeded.engine, seeded.truth.end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Revenue cycle"
    cards = {m.label: m.value for m in at.metric
             if m.label not in BILLING_CARDS | PRICE_CARDS}
    assert cards == {"Initial denial rate (claims)": "60.0 %",  # C1, C2, C4 of 5
                     "Initial denial rate ($)": "72.3 %",  # 1,700 of 2,350
                     "Denied $ still open": "$700.00",  # C2 and C4
                     "Remitted claims": "5"}

    payers = at.dataframe[0].value.set_index("payer")
    assert payers.loc["PAYA", ["claims", "denied", "denied_usd"]].tolist() == [3, 2, 1200.0]
    assert payers.loc["PAYB", ["claims", "denied", "open_usd"]].tolist() == [2, 1, 500.0]
    assert payers["name"].to_dict() == {"PAYA": "PAYA Health", "PAYB": "PAYB Health"}
    facilities = at.dataframe[1].value.set_index("name")
    assert facilities.loc["General Hospital (FAC01)", ["claims", "denied"]].tolist() == [3, 2]
    assert facilities.loc["St Mary's (FAC02)", ["claims", "denied"]].tolist() == [2, 1]
    assert facilities.loc["St Mary's (FAC02)", "rate_count_pct"] == 50.0

    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: c.proto.spec
              for c in at.get("plotly_chart")}
    # the trend: per day, the claims first remitted that day and how many were denied
    trend = {t["name"]: list(_values(t["y"]))
             for t in json.loads(charts["Initial denial rate per day, by payer"])["data"]}
    assert trend == {"All payers": [50.0, 100.0],  # C1, C2 of C1, C2, C3, C5; then C4
                     "PAYA Health": [50.0, 100.0], "PAYB Health": [50.0]}
    chart = charts["Denied $ by group-CARC"]
    for carc in ("CO-16", "CO-97", "CO-4"):
        assert carc in chart
    assert "CO-45" not in chart and "PR-1" not in chart

    drills = {label: q for label, page, q in links(at)
              if page.startswith("drilldown") and not label.startswith("Late: ")}
    expected = {
        "Denied: 3 of 5 claims": (3, "$1,700.00"),
        "Denied: $1,700.00 of $2,350.00": (3, "$1,700.00"),
        "Denied claims: 3, 2 still open": (3, "$1,700.00"),
        "Payments: 8 remittances (later payments, reversals too)": (8, None),
        "PAYA Health: 2 denied claims": (2, "$1,200.00"),  # the 835's N1*PR name
        "PAYB Health: 1 denied claims": (1, "$500.00"),
        "General Hospital (FAC01): 2 denied claims": (2, "$1,500.00"),
        "St Mary's (FAC02): 1 denied claims": (1, "$200.00"),
    }
    assert set(drills) == set(expected)
    for label, (count, usd) in expected.items():
        shown_count, shown_usd = _drill(drills[label])
        assert shown_count == count, label
        assert usd is None or shown_usd == usd, label


def test_without_remittances_the_page_says_how_to_add_a_source(seeded_sqlite) -> None:
    at = signed_in("steward")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert "No remittance source yet" in at.info[0].value
    assert "x12_files" in at.info[0].value
    # billing's figures stand without remittances; no denial card or link is drawn
    assert {m.label for m in at.metric} == BILLING_CARDS
    assert [label for label, _, _ in links(at)] == [
        next(label for label, _, _ in links(at) if label.startswith("Late: "))]
    cards = {m.label: m.value for m in at.metric}
    assert cards["Discharged not final billed"] == "–"  # the seeded store has no claim
    assert "no claims feed yet" in page_text(at)


def test_billing_cards_are_the_metrics_and_the_late_link_opens_them(seeded) -> None:
    """Charge lag and late $ read as the store reader computes them; the late link opens
    the late scans, whose $ is the card's numerator."""
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    reader = StoreMetricReader(seeded.engine)
    window = timedelta(days=7)
    shown_end = _window_end(seeded.engine)
    lag = reader.values("charge_lag_days_mean", window=window, scope_keys=(), now=shown_end)[0]
    late = reader.values("late_charges_usd_pct", window=window, scope_keys=(), now=shown_end)[0]
    assert lag.value is not None and late.value is not None
    cards = {m.label: m.value for m in at.metric}
    want = (f"{lag.value * 24:.1f} h" if lag.value < 1 else f"{lag.value:.1f} days")
    assert cards["Charge lag (mean)"] == want
    assert cards["Late charges (% of billed $)"] == f"{late.value:.1f} %"
    label, query = next((lb, q) for lb, _, q in links(at) if lb.startswith("Late: "))
    count, usd = _drill(query)
    assert usd == f"${late.detail['numerator']:,.2f}" and f"{usd} of" in label
    assert count == len(seeded.truth.late_charge)


def seed_dnfb(engine: Engine, end: datetime) -> None:
    """Four FAC01 encounters around the 4-day hold, then a pass for charge survival:

    - E0 discharged 12 days ago, claimed: the earliest claimed discharge
    - E1 discharged 10 days ago, $300 charged, no claim: DNFB, 10 days
    - E2 discharged 9 days ago, $200 charged, claimed an hour ago: billed
    - E3 discharged 2 days ago, $150 charged, no claim: inside the hold
    """
    rows: list[Any] = []
    for n, (ago, usd, claimed) in enumerate(((12, 100, True), (10, 300, False),
                                             (9, 200, True), (2, 150, False))):
        out = end - timedelta(days=ago)
        enc = f"E{n}"
        rows.append(Encounter(encounter_id=enc, facility_id="FAC01", encounter_class="IMP",
                              procedure_code="27447", started_at=out - timedelta(days=1),
                              ended_at=out, last_updated=out))
        rows.append(Charge(charge_id=f"CH-{enc}", facility_id="FAC01", encounter_id=enc,
                           cdm_code="C1", quantity=Decimal(1), amount=Decimal(usd),
                           service_date=out.date(), posted_at=out - timedelta(hours=2),
                           last_updated=out))
        if claimed:
            made = out + timedelta(days=1) if n == 0 else end - timedelta(hours=1)
            rows.append(Claim(claim_id=f"CL-{enc}", facility_id="FAC01", encounter_id=enc,
                              total=Decimal(usd), status="active", created_at=made,
                              last_updated=made))
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=ingested_now(end))
    compute(engine, ChargeSla(), now=end)


def test_dnfb_lists_the_unbilled_encounters_past_the_hold(seeded) -> None:
    seed_dnfb(seeded.engine, seeded.truth.end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Discharged not final billed"] == "$300.00"
    table = next(df.value for df in at.dataframe if "days_unbilled" in df.value.columns)
    assert table["encounter_id"].tolist() == ["E1"]
    row = table.iloc[0]
    assert (row["gross_usd"], row["procedure_code"]) == (300.0, "27447")
    discharged = seeded.truth.end - timedelta(days=10)
    assert row["days_unbilled"] == (_window_end(seeded.engine) - discharged) // timedelta(days=1)
    assert "1 encounters" in page_text(at) or "1 encounter" in page_text(at)


def test_no_patient_identity_on_the_page(seeded_sqlite) -> None:
    seed_remittances(seeded_sqlite.engine, seeded_sqlite.truth.end)
    at = signed_in("admin")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    text = page_text(at)
    assert "MRN" not in text and "DOE" not in text


def seed_prices(engine: Engine, end: datetime) -> None:
    """Two days before ``end``, at FAC01: a CDM line at $100 billed twice off its price
    (P1 2 units at $115: +$30; P2 1 unit at $90: -$10) and an item contracted at $40
    issued 3 units at $45 (+$15); then a pass for charge survival."""
    at = end - timedelta(days=2)
    rows: list[Any] = [
        CdmEntry(cdm_code="CDM-P", description="priced", price=Money(100)),
        Charge(charge_id="P1", facility_id="FAC01", encounter_id="E-P", cdm_code="CDM-P",
               quantity=Decimal(2), amount=Money(230), service_date=at.date(), posted_at=at,
               last_updated=at),
        Charge(charge_id="P2", facility_id="FAC01", encounter_id="E-P", cdm_code="CDM-P",
               quantity=Decimal(1), amount=Money(90), service_date=at.date(), posted_at=at,
               last_updated=at),
        Item(item_id="ITM-P", description="contracted", unit_cost=Money(50),
             item_class=ItemClass.CONSUMABLE, chargeable=False),
        ContractPrice(contract_id="K-P", item_id="ITM-P", supplier="ACME", price=Money(40),
                      valid_from=(at - timedelta(days=30)).date()),
        InventoryTransaction(document_id="DOC-P", facility_id="FAC01", location_id="FAC01-OR1",
                             item_id="ITM-P", txn_type=InventoryTxnType.ISSUE,
                             quantity=Decimal(-3), unit_cost=Money(45), posted_at=at,
                             modified_at=at),
    ]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=ingested_now(end))
    compute(engine, ChargeSla(), now=end)


def test_prices_off_their_masters_are_shown_and_listed(seeded) -> None:
    """The drift and above-contract cards are the store reader's figures (the seeded
    store bills at its CDM prices and has no contract: only the records seeded here are
    off), and the two tables name those records, largest $ first."""
    seed_prices(seeded.engine, seeded.truth.end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert not {m.label for m in at.metric} & PRICE_CARDS  # judged only when asked
    at.toggle(key="revenue_prices").set_value(True).run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Chargemaster drift"] == "$40.00"
    assert cards["Supply cost above contract"] == "$15.00"
    reader = StoreMetricReader(seeded.engine)
    [drift] = reader.values("cdm_price_drift_usd", window=timedelta(days=7), scope_keys=(),
                            now=ingested_now(_window_end(seeded.engine)))
    assert (drift.value, drift.detail["numerator"]) == (40.0, 2)
    text = page_text(at)
    assert f"2 of {int(drift.detail['denominator']):,} charges · net +$20.00" in text
    assert "1 of 1 issues" in text
    charges = next(df.value for df in at.dataframe if "cdm_price" in df.value.columns)
    assert charges["charge_id"].tolist() == ["P1", "P2"]
    assert charges["usd"].tolist() == [30.0, -10.0]
    issues = next(df.value for df in at.dataframe if "contract_price" in df.value.columns)
    assert issues[["document_id", "quantity", "usd"]].values.tolist() == [["DOC-P", 3.0, 15.0]]
