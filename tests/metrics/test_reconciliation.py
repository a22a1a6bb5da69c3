"""Encounter reconciliation on hand-built records, SQLite and PostgreSQL: each way a claim
line bills a charge (charge id, REF*6R, the claim-line fallback, a claim sent without
lines), what does not bill (a draft claim, a lineless claim made before the charge, a
credit-reversed charge is not owed), and each payer answer (paid, denied and still open,
denied then paid on appeal, a reversal after a payment, no answer inside and past the
allowance), with the cohort's window moved back by the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import CdmEntry, Charge, Claim, ClaimLine, Encounter, Remittance
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.reconciliation import FacilityReconciliation, reconcile
from store.upsert import upsert_records

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOLD, REMIT = 4 * DAY, 30 * DAY
LONG = 60 * DAY  # every discharge since the claims feed began


def _enc(enc: str, days_ago: float, *charges: tuple[str, int]) -> list[Any]:
    """An encounter discharged ``days_ago`` with charges (id, $) posted an hour before."""
    out = END - days_ago * DAY
    rows: list[Any] = [Encounter(encounter_id=enc, facility_id="FAC01", patient_token=f"t-{enc}",
                                 started_at=out - DAY, ended_at=out, last_updated=out)]
    rows += [Charge(charge_id=cid, facility_id="FAC01", encounter_id=enc, cdm_code="CDM-1",
                    quantity=Decimal(1), amount=Decimal(usd), service_date=out.date(),
                    posted_at=out - timedelta(hours=1), last_updated=out)
             for cid, usd in charges]
    return rows


def _claim(claim: str, enc: str, created: datetime, *lines: dict[str, Any],
           status: str = "active", total: int = 100) -> list[Any]:
    rows: list[Any] = [Claim(claim_id=claim, facility_id="FAC01", encounter_id=enc,
                             total=Decimal(total), status=status, created_at=created,
                             last_updated=created)]
    rows += [ClaimLine(claim_id=claim, line_no=n, units=Decimal(1), last_updated=created,
                       **line) for n, line in enumerate(lines, start=1)]
    return rows


def _remit(rid: str, claim: str, status: str, paid: int, at: datetime) -> Remittance:
    return Remittance(remittance_id=rid, claim_id=claim, facility_id="FAC01", payer_id="P1",
                      status_code=status, charge_amount=Decimal(100), paid_amount=Decimal(paid),
                      patient_responsibility=Decimal(0), paid_at=at, last_updated=at)


def _store(engine: Engine, rows: list[Any]) -> None:
    with engine.begin() as conn:
        upsert_records(conn, [CdmEntry(cdm_code="CDM-1", description="stent", hcpcs="C1874",
                                       revenue_code="0278", price=Decimal(100)), *rows],
                       source="test", now=END)
    compute(engine, ChargeSla(), now=END)  # charge survival


def _read(engine: Engine, window: timedelta = LONG, remit: timedelta = REMIT
          ) -> FacilityReconciliation:
    with engine.connect() as conn:
        [found] = reconcile(conn, END, window, HOLD, remit)
    return found


def _gaps(found: FacilityReconciliation) -> dict[str, list[tuple[str, float]]]:
    return {kind: [(g.encounter_id, g.usd) for g in rows] for kind, rows in found.gaps.items()}


def test_each_way_a_line_bills_a_charge(engine: Engine) -> None:
    made = END - 5 * DAY
    rows = [
        *_enc("E0", 20, ("C0", 100)), *_claim("K0", "E0", END - 2 * DAY,
                                               {"charge_id": "C0"}),
        # by REF*6R on an 837 (no encounter named), by the fallback (HCPCS, date, units)
        *_enc("E1", 10, ("C1a", 100), ("C1b", 100)),
        *_claim("K1", "", made, {"line_control": "C1a"}),
        *_claim("K1b", "E1", made, {"procedure_code": "C1874",
                                    "service_on": (END - 10 * DAY).date()}),
        # a claim sent without lines after the charge posted covers it; a draft bills nothing
        *_enc("E2", 9, ("C2", 100)), *_claim("K2", "E2", made),
        *_enc("E3", 8, ("C3", 70)), *_claim("K3", "E3", made, {"charge_id": "C3"},
                                              status="draft"),
        # a lineless claim made before the charge posted does not cover it
        *_enc("E4", 7, ("C4", 40)), *_claim("K4", "E4", END - 30 * DAY),
        # the same HL7 message posted twice, the claim bills the first: the extra is the
        # duplicates queue's to credit, not a charge left unbilled
        *_enc("E5", 6.5, ("C5", 100), ("C5x", 100)),
        *_claim("K5", "E5", made, {"charge_id": "C5"}),
    ]
    rows = [r.model_copy(update={"control_id": "MSG-5"})
            if isinstance(r, Charge) and r.charge_id in ("C5", "C5x") else r for r in rows]
    rows += [_remit(f"R-{k}", k, "1", 80, END - DAY)
             for k in ("K0", "K1", "K1b", "K2", "K4", "K5")]
    _store(engine, rows)
    found = _read(engine)
    assert found.horizon == END - 2 * DAY  # the newest billing claim
    assert _gaps(found) == {"charge": [], "claim": [("E3", 70.0), ("E4", 40.0)],
                            "payment": []}
    assert (found.judged, found.reconciled) == (6, 4)


def test_each_payer_answer(engine: Engine) -> None:
    made = END - 12 * DAY
    rows = [*_enc("E0", 40, ("C0", 100)), *_claim("K0", "E0", END - DAY, {"charge_id": "C0"})]
    rows += [_remit("R0", "K0", "1", 80, END - DAY)]
    for n, answers in enumerate((
            [("1", 80)],  # E1 paid
            [("4", 0)],  # E2 denied, still open
            [("4", 0), ("1", 90)],  # E3 denied, paid on appeal
            [("1", 80), ("22", -80)],  # E4 paid, then the payment reversed: still answered
            [],  # E5 no answer, inside the allowance
    ), start=1):
        enc, claim = f"E{n}", f"K{n}"
        rows += [*_enc(enc, 15 - n, (f"C{n}", 100)),
                 *_claim(claim, enc, made + n * timedelta(hours=1), {"charge_id": f"C{n}"})]
        rows += [_remit(f"R{n}-{i}", claim, status, paid, made + (2 + i) * DAY)
                 for i, (status, paid) in enumerate(answers)]
    # E6: no answer, claimed 35 days ago: past the 30-day allowance
    rows += [*_enc("E6", 36, ("C6", 100)),
             *_claim("K6", "E6", END - 35 * DAY, {"charge_id": "C6"})]
    _store(engine, rows)
    found = _read(engine)
    assert _gaps(found)["payment"] == [("E6", 100.0), ("E2", 100.0)]  # oldest first
    e2 = next(g for g in found.gaps["payment"] if g.encounter_id == "E2")
    assert e2.opened_at == made + 2 * DAY  # the denial's payment date
    assert e2.days_outstanding == (found.horizon - e2.opened_at) / DAY
    # a 10-day allowance makes E5's unanswered claim (made 12 days ago) a gap too
    short = _read(engine, remit=10 * DAY)
    assert {e for e, _ in _gaps(short)["payment"]} == {"E2", "E5", "E6"}


def test_the_cohort_is_the_window_moved_back_by_the_hold(engine: Engine) -> None:
    rows: list[Any] = []
    for n, ago in enumerate((30, 13, 9, 5, 3)):
        rows += _enc(f"E{n}", ago, (f"C{n}", 100))
    rows += _claim("K0", "E0", END - DAY, {"charge_id": "C0"})  # H = END - 1 d
    rows += [_remit("R0", "K0", "1", 80, END - DAY)]
    _store(engine, rows)
    # a 7-day window judges discharges in [H - 11 d, H - 4 d): 12 to 5 days before END,
    # the end excluded (E3 at 5 days is not past the hold yet, E4 at 3 days even less)
    week = _read(engine, window=7 * DAY)
    assert week.horizon == END - DAY
    assert (week.judged, [g.encounter_id for g in week.gaps["claim"]]) == (1, ["E2"])
    ten = _read(engine, window=10 * DAY)  # from 15 days before END: E1 too
    assert [g.encounter_id for g in ten.gaps["claim"]] == ["E1", "E2"]
    [v] = StoreMetricReader(engine).values("encounter_reconciliation_pct", window=LONG,
                                           scope_keys=("facility",), now=END)
    # since the earliest claimed discharge (E0, reconciled): E0, E1, E2 judged
    assert (v.detail["numerator"], v.detail["denominator"]) == (1, 3)
    assert v.value == round(100 / 3, 4)
    assert (v.detail["claim_gap"], v.detail["claim_gap_usd"]) == (2, 200.0)
    assert (v.detail["charge_gap"], v.detail["payment_gap"]) == (0, 0)
    assert v.scope == {"facility": "FAC01"}


def test_nothing_to_bill_is_not_judged_and_no_claims_is_no_value(engine: Engine) -> None:
    rows = [Encounter(encounter_id="EMPTY", facility_id="FAC01", started_at=END - 11 * DAY,
                      ended_at=END - 10 * DAY, last_updated=END - 10 * DAY),
            *_enc("E1", 10, ("C1", 100)), *_enc("E2", 9, ("C2", 100))]
    _store(engine, rows)
    reader = StoreMetricReader(engine)
    assert reader.values("encounter_reconciliation_pct", window=LONG, scope_keys=(),
                         now=END) == []  # no claims feed: nothing to say
    _store(engine, _claim("K1", "E1", END - DAY, {"charge_id": "C1"}))
    found = _read(engine)
    assert found.judged == 2  # the empty encounter has nothing to reconcile
    assert _gaps(found)["claim"] == [("E2", 100.0)]
