"""Encounter reconciliation on the Revenue cycle page and the Overview: the rate card is
the store reader's figure, the three gap tabs (Encounter → Charge, Charge → Claim,
Claim → Payment) list exactly the encounters the metric counts, with their $ and days
outstanding, oldest first, and a patient token, never an identity."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import (
    CdmEntry,
    Charge,
    Claim,
    ClaimLine,
    Crosswalk,
    Encounter,
    Item,
    ItemClass,
    UsageEvent,
)
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from store.upsert import upsert_records
from tests.app.conftest import ingested_now, page_text, signed_in
from tests.app.test_revenue_page import _cas, _remit, _window_end

TABS = ["Encounter → Charge", "Charge → Claim", "Claim → Payment"]
DAY = timedelta(days=1)


def seed_reconciliation(engine: Engine, end: datetime) -> None:
    """FAC01 encounters discharged ``d`` days before ``end``, one charge each, then a pass:

    - R0 12 d, $100, claimed an hour before ``end`` (the claims horizon): the earliest
      claimed discharge, before the 7-day cohort (discharged 11 to 4 days before it)
    - R1 10 d, $300 on a claim line naming the charge, paid: reconciled
    - R2 9 d, $200, no claim: Charge → Claim, $200, open since it posted
    - R3 8 d, $150 on a claim sent without lines, denied (CLP02 4, CO-16) and still open:
      Claim → Payment, $150, open since the denial's payment date
    - R4 7 d, $80 claimed and paid, and a scan of 2 chargeable units at a $25 CDM price
      billing never charged: Encounter → Charge, $50, open since the discharge
    """
    rows: list[Any] = [
        Item(item_id="ITM-R", description="stent", unit_cost=Decimal(10),
             item_class=ItemClass.CONSUMABLE, chargeable=True),
        CdmEntry(cdm_code="CDM-R", description="stent", hcpcs="C1874", revenue_code="0278",
                 price=Decimal(25)),
        Crosswalk(item_id="ITM-R", cdm_code="CDM-R"),
    ]
    remits: list[Any] = []
    for n, (ago, usd) in enumerate(((12, 100), (10, 300), (9, 200), (8, 150), (7, 80))):
        out = end - ago * DAY
        enc = f"R{n}"
        rows.append(Encounter(encounter_id=enc, facility_id="FAC01", encounter_class="IMP",
                              patient_token=f"tok{n}", procedure_code="27447",
                              started_at=out - DAY, ended_at=out, last_updated=out))
        rows.append(Charge(charge_id=f"CH-{enc}", facility_id="FAC01", encounter_id=enc,
                           cdm_code="C1", quantity=Decimal(1), amount=Decimal(usd),
                           service_date=out.date(), posted_at=out - timedelta(hours=2),
                           last_updated=out))
        if n == 2:
            continue
        made = end - timedelta(hours=1) if n == 0 else out + DAY
        rows.append(Claim(claim_id=f"CL-{enc}", facility_id="FAC01", encounter_id=enc,
                          total=Decimal(usd), status="active", created_at=made,
                          last_updated=made))
        if n != 3:
            rows.append(ClaimLine(claim_id=f"CL-{enc}", line_no=1, charge_id=f"CH-{enc}",
                                  charge_amount=Decimal(usd), last_updated=made))
        paid = (made + 2 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
        if n == 3:
            remits += [_remit(f"RM-{enc}", f"CL-{enc}", "FAC01", "PAYA", "4", usd, 0, paid),
                       _cas(f"RM-{enc}", f"CL-{enc}", "CO", "16", usd, paid)]
        elif n:
            remits.append(_remit(f"RM-{enc}", f"CL-{enc}", "FAC01", "PAYA", "1", usd,
                                 usd * 4 // 5, paid))
    used = end - 7 * DAY - timedelta(hours=3)
    rows.append(UsageEvent(usage_id="U-R4", facility_id="FAC01", location_id="FAC01-OR1",
                           encounter_id="R4", patient_token="tok4", item_ref="ITM-R",
                           quantity=Decimal(2), used_at=used, recorded_at=used))
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=ingested_now(end))
        upsert_records(conn, remits, source="x12", now=ingested_now(end))
    compute(engine, ChargeSla(), now=end)


def _tab(at: Any, label: str) -> Any:
    return next(t for t in at.tabs if t.label == label)


def test_the_gap_tabs_list_what_the_metric_counts(seeded) -> None:
    end = seeded.truth.end
    seed_reconciliation(seeded.engine, end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    shown_end = _window_end(seeded.engine)
    [value] = StoreMetricReader(seeded.engine).values(
        "encounter_reconciliation_pct", window=timedelta(days=7), scope_keys=(), now=shown_end)
    # R1..R4 judged; R1 alone is reconciled
    assert (value.detail["numerator"], value.detail["denominator"]) == (1, 4)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Encounter reconciliation"] == "25.0 %"
    assert "1 of 4 encounters reconciled" in page_text(at)
    assert [t.label for t in at.tabs] == TABS

    horizon = min(shown_end, end - timedelta(hours=1))
    want = {  # tab -> (encounter, $, days outstanding)
        "Encounter → Charge": ("R4", 50.0, (horizon - (end - 7 * DAY)) // DAY),
        "Charge → Claim": ("R2", 200.0,
                           (horizon - (end - 9 * DAY - timedelta(hours=2))) // DAY),
        "Claim → Payment": ("R3", 150.0, None),
    }
    for label, (enc, usd, days) in want.items():
        tab = _tab(at, label)
        [table] = tab.dataframe
        df = table.value
        assert df["encounter_id"].tolist() == [enc], label
        assert df["usd"].tolist() == [usd], label
        assert df["patient_token"].tolist() == [f"tok{enc[1]}"], label
        if days is not None:
            assert df["days_outstanding"].tolist() == [days], label
        said = " ".join(m.value for m in tab.markdown)
        assert f"**1 encounters · ${usd:,.2f} at stake**" in said, label
    denial = (end - 8 * DAY + 3 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    payment = _tab(at, "Claim → Payment").dataframe[0].value
    assert payment["days_outstanding"].tolist() == [(horizon - denial) // DAY]
    for kind in ("charge", "claim", "payment"):
        assert value.detail[f"{kind}_gap"] == 1


def test_the_tabs_sort_by_days_outstanding(seeded) -> None:
    """A second unclaimed encounter discharged earlier is listed first."""
    end = seeded.truth.end
    seed_reconciliation(seeded.engine, end)
    out = end - 10 * DAY - timedelta(hours=6)
    rows = [Encounter(encounter_id="R5", facility_id="FAC01", patient_token="tok5",
                      started_at=out - DAY, ended_at=out, last_updated=out),
            Charge(charge_id="CH-R5", facility_id="FAC01", encounter_id="R5", cdm_code="C1",
                   quantity=Decimal(1), amount=Decimal(40), service_date=out.date(),
                   posted_at=out, last_updated=out)]
    with seeded.engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=ingested_now(end))
    compute(seeded.engine, ChargeSla(), now=end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    df = _tab(at, "Charge → Claim").dataframe[0].value
    assert df["encounter_id"].tolist() == ["R5", "R2"]
    assert df["days_outstanding"].is_monotonic_decreasing
    assert "**2 encounters · $240.00 at stake**" in " ".join(
        m.value for m in _tab(at, "Charge → Claim").markdown)


def test_without_claims_there_is_no_reconciliation(seeded_sqlite) -> None:
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert "Encounter reconciliation" not in {m.label for m in at.metric}
    assert not at.tabs


@pytest.mark.parametrize("role", ["executive"])
def test_the_overview_shows_the_rate_beside_the_revenue_cards(seeded, role: str) -> None:
    at = signed_in(role).run()
    assert not at.exception, at.exception
    assert "Encounter reconciliation" not in {m.label for m in at.metric}
    seed_reconciliation(seeded.engine, seeded.truth.end)
    st.cache_data.clear()  # as a page's own write would (app.actions)
    at = signed_in(role).run()
    assert not at.exception, at.exception
    cards = {m.label: m for m in at.metric}
    assert cards["Encounter reconciliation"].value == "25.0 %"  # as the Revenue cycle page
    assert "1 of 4" in cards["Encounter reconciliation"].help
