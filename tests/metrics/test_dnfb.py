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


def _expected_horizons(claims: list[Claim], now: datetime) -> dict[str, datetime]:
    """Each facility's newest billing claim created by ``now``, worked out by hand."""
    out: dict[str, datetime] = {}
    for c in claims:
        if c.status not in ("draft", "cancelled", "entered-in-error") and c.created_at <= now:
            out[c.facility_id] = max(out.get(c.facility_id, c.created_at), c.created_at)
    return out


def test_the_claims_horizons_kept_by_the_pass_match_the_claims_at_every_now(
        engine: Engine) -> None:
    """The pass's billing claims give each facility's horizon at any ``now`` (the present,
    the past, before a facility's first claim), counting only billing claims, also one
    naming no encounter and no charge; a claim later cancelled leaves it after the next
    (incremental) pass, and a claim stored since the pass is seen at once."""
    def claim(cid: str, fac: str, days_ago: float, status: str = "active") -> Claim:
        at = END - timedelta(days=days_ago)
        return Claim(claim_id=cid, facility_id=fac, encounter_id="", total=Decimal(1),
                     status=status, created_at=at, last_updated=at)

    made = [claim("A1", "FAC01", 20), claim("A2", "FAC01", 5), claim("A3", "FAC01", 1, "draft"),
            claim("B1", "FAC02", 9), claim("B2", "FAC02", 3, "entered-in-error"),
            claim("C1", "FAC03", 2, "cancelled"), claim("D1", "FAC04", 0.5)]
    with engine.begin() as conn:
        upsert_records(conn, made, source="billing", now=END)
    compute(engine, ChargeSla(), now=END)
    nows = [END, END - timedelta(days=4), END - timedelta(days=10), END - timedelta(days=30)]
    for now in nows:
        with engine.connect() as conn:
            assert horizons(conn, now) == _expected_horizons(made, now), now
    # A2 cancelled, a new claim of FAC02: seen before the pass (from the claims), and after
    later = END + timedelta(minutes=5)
    changed = [claim("A2", "FAC01", 5, "cancelled"), claim("B3", "FAC02", 0.1)]
    with engine.begin() as conn:
        upsert_records(conn, changed, source="billing", now=later)
    now_made = [c for c in made if c.claim_id != "A2"] + changed
    with engine.connect() as conn:
        assert horizons(conn, END) == _expected_horizons(now_made, END)
    assert not compute(engine, ChargeSla(), now=later).full
    for now in nows:
        with engine.connect() as conn:
            assert horizons(conn, now) == _expected_horizons(now_made, now), now
