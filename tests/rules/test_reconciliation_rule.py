"""The shipped ``encounter-reconciliation`` rule judged on the rate the store reader reads
from hand-built encounters, charges, claims and remittances: warn below 95 %, fail below
90 % per facility over the 30 days of discharges before the hold, nothing on fewer than 20
judged encounters, nothing on a clean month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import Charge, Claim, Encounter, Remittance
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from rules.evaluate import Outcome, judge
from rules.loader import PACK_DIR, load_rules
from store.upsert import upsert_records

RULE = load_rules([PACK_DIR]).by_id["encounter-reconciliation"]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _facility(fid: str, judged: int, unclaimed: int) -> list[Any]:
    """``judged`` encounters discharged 10 to 30 days ago with a $100 charge each; the
    ``unclaimed`` newest have no claim (a Charge -> Claim gap), the rest a claim created
    two hours ago and paid an hour ago."""
    rows: list[Any] = []
    for n in range(judged):
        out = NOW - timedelta(days=10 + 20 * n / judged)
        enc = f"{fid}-E{n}"
        rows += [Encounter(encounter_id=enc, facility_id=fid, started_at=out - timedelta(1),
                           ended_at=out, last_updated=out),
                 Charge(charge_id=f"{enc}-C", facility_id=fid, encounter_id=enc, cdm_code="C1",
                        quantity=Decimal(1), amount=Decimal(100), service_date=out.date(),
                        posted_at=out - timedelta(hours=2), last_updated=out)]
        if n < unclaimed:
            continue
        made, paid = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
        rows += [Claim(claim_id=f"{enc}-CL", facility_id=fid, encounter_id=enc,
                       total=Decimal(100), status="active", created_at=made, last_updated=made),
                 Remittance(remittance_id=f"{enc}-R", claim_id=f"{enc}-CL", facility_id=fid,
                            payer_id="P1", status_code="1", charge_amount=Decimal(100),
                            paid_amount=Decimal(80), patient_responsibility=Decimal(0),
                            paid_at=paid, last_updated=paid)]
    return rows


def _judged(engine: Engine, records: list[Any]) -> dict[str, tuple[Outcome, float | None]]:
    with engine.begin() as conn:
        upsert_records(conn, records, source="test", now=NOW)
    compute(engine, ChargeSla(), now=NOW)  # charge survival
    values = StoreMetricReader(engine).values(RULE.metric, window=RULE.window,
                                              scope_keys=RULE.scope.by, now=NOW,
                                              params=RULE.parameters.args)
    return {v.scope["facility"]: (judge(RULE, v).outcome, v.value) for v in values}


def test_the_pack_rule_watches_encounter_reconciliation() -> None:
    assert (RULE.metric, RULE.scope.by, RULE.warn, RULE.fail, RULE.direction.value) == (
        "encounter_reconciliation_pct", ("facility",), 95, 90, "below")


def test_encounter_reconciliation_warns_and_fails_per_facility(engine: Engine) -> None:
    records = (_facility("FAC01", 40, 5) + _facility("FAC02", 40, 3)
               + _facility("FAC03", 40, 0) + _facility("FAC04", 5, 2))
    assert _judged(engine, records) == {
        "FAC01": (Outcome.FAIL, 87.5),
        "FAC02": (Outcome.WARN, 92.5),
        "FAC03": (Outcome.OK, 100.0),
        "FAC04": (Outcome.NODATA, 60.0),  # 5 encounters: below min_denominator 20
    }
