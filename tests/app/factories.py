"""Records for dashboard tests, built from the canonical model and written with the
store's own upsert (no hand-written SQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from chargeline.model import (
    AckCode,
    Charge,
    Facility,
    InterfaceMessage,
    InventoryTransaction,
    InventoryTxnType,
    MessageStatus,
    UsageEvent,
)
from store.schema import api_calls, collector_runs
from store.upsert import quarantine, upsert_records

T0 = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
# Usage per facility over the seeded hours: distinct so tests can tell facilities apart.
PLAN = {"FAC01": 5, "FAC02": 3}
FAKE_PHI = "PID|1||MRN0012345^^^FAC01^MR||DOE^JANE||19700101|F"


def seed_store(engine: Engine, hours: int = 3) -> dict[str, dict[str, int]]:
    """Write usage, messages, charges and issues for two facilities; return the counts."""
    records: list = [Facility(facility_id=f, name=f"Hospital {f}") for f in PLAN]
    expected: dict[str, dict[str, int]] = {}
    for fac, per_hour in PLAN.items():
        counts = {"usage": 0, "messages": 0, "charges": 0, "issues": 0}
        for h in range(hours):
            for i in range(per_hour):
                n = h * 100 + i
                at = T0 + timedelta(hours=h, minutes=i)
                usage_id = f"U-{fac}-{n:07d}"
                control = f"MSG-{fac}-{n:07d}"
                records.append(UsageEvent(
                    usage_id=usage_id, facility_id=fac, location_id=f"{fac}-OR1",
                    encounter_id=f"ENC-{fac}-{n:06d}", item_ref="ITM-100234",
                    quantity=Decimal(1), used_at=at, source="test"))
                nack = i == 0
                records.append(InterfaceMessage(
                    channel=f"{fac}_CHG_OUT", control_id=control, message_type="DFT^P03",
                    facility_id=fac, encounter_id=f"ENC-{fac}-{n:06d}", usage_ids=(usage_id,),
                    received_at=at + timedelta(seconds=30),
                    sent_at=None if nack else at + timedelta(seconds=40),
                    status=MessageStatus.ERROR if nack else MessageStatus.SENT,
                    ack_code=AckCode.AE if nack else AckCode.AA))
                counts["usage"] += 1
                counts["messages"] += 1
                if not nack:
                    records.append(Charge(
                        charge_id=f"CHG-{fac}-{n:07d}", facility_id=fac,
                        encounter_id=f"ENC-{fac}-{n:06d}", cdm_code="2780001713",
                        quantity=Decimal(1), amount=Decimal("1250.00"),
                        service_date=date(2026, 11, 18), posted_at=at + timedelta(minutes=2),
                        usage_id=usage_id, control_id=control, last_updated=at))
                    records.append(InventoryTransaction(
                        document_id=f"DOC-{fac}-{n:07d}", facility_id=fac,
                        location_id=f"{fac}-OR1", item_id="ITM-100234",
                        txn_type=InventoryTxnType.ISSUE, quantity=Decimal(1),
                        usage_id=usage_id, posted_at=at + timedelta(minutes=3),
                        modified_at=at + timedelta(minutes=3)))
                    counts["charges"] += 1
                    counts["issues"] += 1
        expected[fac] = counts
    with engine.begin() as conn:
        upsert_records(conn, records, source="test")
        conn.execute(insert(collector_runs), [
            {"run_id": "run-1", "source": "billing", "started_at": T0, "finished_at": T0,
             "status": "ok", "records": 10, "newest_record_at": T0, "error_class": "",
             "error": ""},
            {"run_id": "run-2", "source": "erp", "started_at": T0, "finished_at": T0,
             "status": "error", "error_class": "SourceUnavailable", "error": "HTTP 503",
             "records": 0, "newest_record_at": None},
        ])
        conn.execute(insert(api_calls), [
            {"run_id": "run-1", "source": "billing", "endpoint": "ChargeItem",
             "started_at": T0 + timedelta(minutes=k), "duration_ms": float(10 * (k + 1)),
             "status_code": 200 if k < 9 else 503, "rows": 5, "error_class": ""}
            for k in range(10)
        ])
        quarantine(conn, source="hl7", position="FAC01_CHG_OUT-20261118.hl7@120",
                   reason="PID segment malformed", raw_payload=FAKE_PHI, record_kind="hl7", now=T0)
    return expected
