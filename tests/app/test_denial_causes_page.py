"""The Revenue cycle page's "Denials Chargeline saw coming": one claim whose remittance
denies a line billed from a CDM line without HCPCS (CO-16 M20) and one billing a clean
charge (CO-97). The page says which share of denied $ Chargeline already knew, lists the
lines and $ per cause and the line with its usage, linked to that usage's transaction
trace on the Lineage page; no patient token is shown. An estate without known causes shows
the share alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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
    RemittanceLine,
    UsageEvent,
)
from metrics.compute.run import compute
from store.upsert import upsert_records
from tests.app.conftest import ingested_now, links, page_text, signed_in
from tests.app.test_revenue_page import _cas, _remit, _window_end

TOKEN = "tok-denial-causes-0001"


def _line(rid: str, claim: str, n: int, code: str, usd: int, paid: int, at: datetime,
          remarks: str = "") -> RemittanceLine:
    return RemittanceLine(remittance_id=rid, line_no=n, claim_id=claim, procedure_code=code,
                          charge_amount=Decimal(usd), paid_amount=Decimal(paid),
                          remark_codes=remarks, last_updated=at)


def seed_denials(engine: Engine, end: datetime) -> None:
    """FAC01 encounter ED1, three days before ``end``: scan UD1 of an item whose CDM line
    has no HCPCS (charge CD1, $40) and scan UD2 of a coded one (charge CD2, $60); claim KD1
    bills both; its remittance pays neither: CO-16 M20 on line 1, CO-97 on line 2."""
    day = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    used = day - timedelta(days=2)
    rows: list[Any] = [
        Item(item_id="DCX1", description="sheath", unit_cost=Decimal(5),
             item_class=ItemClass.CONSUMABLE, chargeable=True),
        Item(item_id="DCY1", description="guide", unit_cost=Decimal(5),
             item_class=ItemClass.CONSUMABLE, chargeable=True),
        CdmEntry(cdm_code="CDM-NOH", description="sheath", hcpcs="", revenue_code="0272",
                 price=Decimal(40)),
        CdmEntry(cdm_code="CDM-DCY", description="guide", hcpcs="C1769", revenue_code="0278",
                 price=Decimal(60)),
        Crosswalk(item_id="DCX1", cdm_code="CDM-NOH"),
        Crosswalk(item_id="DCY1", cdm_code="CDM-DCY"),
        Encounter(encounter_id="ED1", facility_id="FAC01", patient_token=TOKEN,
                  started_at=used - timedelta(hours=1), ended_at=used + timedelta(hours=4),
                  last_updated=used),
    ]
    for uid, item, cid, cdm, usd in (("UD1", "DCX1", "CD1", "CDM-NOH", 40),
                                      ("UD2", "DCY1", "CD2", "CDM-DCY", 60)):
        rows += [UsageEvent(usage_id=uid, facility_id="FAC01", location_id="FAC01-OR1",
                            encounter_id="ED1", patient_token=TOKEN, item_ref=item,
                            quantity=Decimal(1), used_at=used),
                 Charge(charge_id=cid, facility_id="FAC01", encounter_id="ED1",
                        patient_token=TOKEN, cdm_code=cdm, quantity=Decimal(1),
                        amount=Decimal(usd), service_date=used.date(), usage_id=uid,
                        posted_at=used + timedelta(minutes=30), last_updated=used)]
    made = used + timedelta(days=1)
    rows += [Claim(claim_id="KD1", facility_id="FAC01", encounter_id="ED1",
                   patient_token=TOKEN, total=Decimal(100), status="active", created_at=made,
                   last_updated=made),
             ClaimLine(claim_id="KD1", line_no=1, charge_id="CD1", revenue_code="0272",
                       last_updated=made),
             ClaimLine(claim_id="KD1", line_no=2, charge_id="CD2", procedure_code="C1769",
                       revenue_code="0278", last_updated=made)]
    remits = [_remit("RD1", "KD1", "FAC01", "PAYA", "1", 100, 0, day),
              _line("RD1", "KD1", 1, "NU:0272", 40, 0, day, remarks="M20"),
              _cas("RD1", "KD1", "CO", "16", 40, day, line=1),
              _line("RD1", "KD1", 2, "HC:C1769", 60, 0, day),
              _cas("RD1", "KD1", "CO", "97", 60, day, line=2)]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=ingested_now(end))
        upsert_records(conn, remits, source="x12", now=ingested_now(end))
    compute(engine, ChargeSla(), now=end)


def test_the_page_shows_the_denials_chargeline_saw_coming(seeded_sqlite) -> None:
    end = _window_end(seeded_sqlite.engine)
    seed_denials(seeded_sqlite.engine, end)
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert "Denials Chargeline saw coming" in [h.value for h in at.subheader]
    captions = " ".join(c.value for c in at.caption)
    assert ("40.0 % of denied $ had a cause Chargeline already knew: $40.00 of $100.00 "
            "(1 of 2 denied lines)") in captions
    causes = next(df.value for df in at.dataframe
                  if list(df.value.columns) == ["label", "lines", "usd"])
    assert causes.values.tolist() == [["CDM line without HCPCS", 1, 40.0]]
    lines = next(df.value for df in at.dataframe if "usage_id" in df.value.columns)
    assert lines[["claim_id", "line_no", "carcs", "usd", "label", "usage_id"]
                 ].values.tolist() == [["KD1", 1, "CO-16", 40.0, "CDM line without HCPCS",
                                        "UD1"]]
    assert lines["name"].tolist() == ["General Hospital (FAC01)"]
    traces = [(label, page, q) for label, page, q in links(at) if label.startswith("Trace ")]
    assert traces == [("Trace UD1: claim KD1 line 1, CDM line without HCPCS", "lineage",
                       {"trace": ["UD1"]})]
    assert TOKEN not in page_text(at)  # never patient identity


def test_without_a_known_cause_the_page_shows_the_share_alone(seeded_sqlite) -> None:
    end = _window_end(seeded_sqlite.engine)
    day = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    with seeded_sqlite.engine.begin() as conn:  # a denied line no charge stands behind
        upsert_records(conn, [_remit("RZ", "KZ", "FAC02", "PAYB", "1", 50, 0, day),
                              _line("RZ", "KZ", 1, "HC:A4649", 50, 0, day),
                              _cas("RZ", "KZ", "CO", "97", 50, day, line=1)],
                       source="x12", now=ingested_now(end))
    at = signed_in("executive")
    at.switch_page("views/revenue.py").run()
    assert not at.exception, at.exception
    assert ("0.0 % of denied $ had a cause Chargeline already knew: $0.00 of $50.00 "
            "(0 of 1 denied lines)") in " ".join(c.value for c in at.caption)
    assert not [df for df in at.dataframe if "usage_id" in df.value.columns]
    assert not [label for label, _, _ in links(at) if label.startswith("Trace ")]
