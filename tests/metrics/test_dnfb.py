"""DNFB on hand-built claims, SQLite and PostgreSQL: a claim bills the encounter it names
or, as an 837 does (no encounter, only the charges on its lines, REF*6R), the encounters of
the charges its lines name; the claims horizon stalls with a feed that is behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import Charge, Claim, ClaimLine, Encounter
from metrics.compute.run import compute
from metrics.read.dnfb import horizons, unbilled
from store.upsert import upsert_records

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOLD = timedelta(days=4)


def _encounter(enc: str, days_ago: float, usd: int) -> list[Any]:
    out = END - timedelta(days=days_ago)
    return [Encounter(encounter_id=enc, facility_id="FAC01", started_at=out - timedelta(days=1),
                      ended_at=out, last_updated=out),
            Charge(charge_id=f"CH-{enc}", facility_id="FAC01", encounter_id=enc,
                   cdm_code="C1", quantity=Decimal(1), amount=Decimal(usd),
                   service_date=out.date(), posted_at=out - timedelta(hours=1),
                   last_updated=out)]


def _claim(claim: str, created: datetime, *, encounter: str = "",
           lines: tuple[tuple[str, str], ...] = ()) -> list[Any]:
    out: list[Any] = [Claim(claim_id=claim, facility_id="FAC01", encounter_id=encounter,
                            total=Decimal(1), status="active", created_at=created,
                            last_updated=created)]
    out += [ClaimLine(claim_id=claim, line_no=n, line_control=control, charge_id=charge,
                      units=Decimal(1), last_updated=created)
            for n, (control, charge) in enumerate(lines, start=1)]
    return out


def test_an_837_bills_the_encounters_of_the_charges_its_lines_name(engine: Engine) -> None:
    rows = [*_encounter("E0", 12, 100), *_encounter("E1", 10, 300), *_encounter("E2", 9, 200),
            *_encounter("E3", 8, 50)]
    rows += _claim("FHIR-0", END - timedelta(days=11), encounter="E0")
    # an 837 claim: no encounter; one line by its REF*6R (the charge id), one by charge id
    rows += _claim("837-2", END - timedelta(hours=2), lines=(("CH-E2", ""),))
    rows += _claim("837-3", END - timedelta(hours=3), lines=(("LINE-9", "CH-E3"),))
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=END)
    compute(engine, ChargeSla(), now=END)
    with engine.connect() as conn:
        horizon = horizons(conn, END)
        assert horizon == {"FAC01": END - timedelta(hours=2)}
        assert unbilled(conn, "FAC01", horizon["FAC01"], HOLD) == [("E1", 300.0)]


def test_a_claims_feed_behind_stalls_the_horizon(engine: Engine) -> None:
    rows = [*_encounter("E0", 20, 100), *_encounter("E1", 10, 300), *_encounter("E2", 7, 80)]
    # the newest claim is 8 days old: judged at that horizon, E1 (discharged 2 days before
    # it) is inside the hold and E2 after it; nothing is DNFB yet
    rows += _claim("FHIR-0", END - timedelta(days=8), encounter="E0")
    with engine.begin() as conn:
        upsert_records(conn, rows, source="billing", now=END)
    compute(engine, ChargeSla(), now=END)
    with engine.connect() as conn:
        horizon = horizons(conn, END)["FAC01"]
        assert horizon == END - timedelta(days=8)
        assert unbilled(conn, "FAC01", horizon, HOLD) == []
        # a day later in the feed's time, E1 is past the hold
        assert unbilled(conn, "FAC01", horizon + timedelta(days=3), HOLD) == [("E1", 300.0)]
