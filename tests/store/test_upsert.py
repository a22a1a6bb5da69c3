"""Upserts on natural keys are idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from core.model import Charge, InterfaceMessage, MessageStatus
from store.schema import charges, message_usages, quarantined_records, source_watermarks
from store.upsert import quarantine, read_watermark, upsert_records, write_watermark

T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def _charge(charge_id: str = "CHG-1", amount: str = "125.00") -> Charge:
    return Charge(
        charge_id=charge_id, facility_id="FAC01", encounter_id="ENC-1", cdm_code="2780001713",
        quantity=Decimal("1"), amount=Decimal(amount), service_date=date(2026, 11, 18),
        posted_at=T0, usage_id="U-1", control_id="MSG-1", last_updated=T0,
    )


def test_reingesting_the_same_records_changes_nothing(engine) -> None:
    records = [_charge("CHG-1"), _charge("CHG-2")]
    with engine.begin() as conn:
        assert upsert_records(conn, records, source="billing", now=T0) == 2
    with engine.begin() as conn:
        first = conn.execute(select(charges).order_by(charges.c.charge_id)).all()
        assert upsert_records(conn, records, source="billing", now=T0 + timedelta(hours=1)) == 0
    with engine.connect() as conn:
        again = conn.execute(select(charges).order_by(charges.c.charge_id)).all()
        assert again == first
        assert again[0].ingested_at == T0  # not bumped: nothing changed


def test_changed_record_is_updated_in_place(engine) -> None:
    with engine.begin() as conn:
        upsert_records(conn, [_charge(amount="125.00")], source="billing", now=T0)
    later = T0 + timedelta(minutes=5)
    with engine.begin() as conn:
        assert upsert_records(conn, [_charge(amount="99.50")], source="billing", now=later) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(charges)).all()
    assert len(rows) == 1
    assert rows[0].amount == Decimal("99.50")
    assert rows[0].ingested_at == later
    assert rows[0].posted_at == T0 and rows[0].posted_at.tzinfo is not None


def test_last_version_in_one_batch_wins(engine) -> None:
    with engine.begin() as conn:
        upsert_records(conn, [_charge(amount="1.00"), _charge(amount="2.00")], source="b")
    with engine.connect() as conn:
        assert conn.execute(select(charges.c.amount)).scalar_one() == Decimal("2.00")


def test_message_usage_links_are_written_once(engine) -> None:
    message = InterfaceMessage(
        channel="FAC01_CHG_OUT", control_id="MSG-1", message_type="DFT^P03",
        usage_ids=("U-1", "U-2"), received_at=T0, status=MessageStatus.SENT,
    )
    for _ in range(2):
        with engine.begin() as conn:
            upsert_records(conn, [message], source="engine")
    with engine.connect() as conn:
        links = conn.execute(select(message_usages.c.usage_id).order_by("usage_id")).scalars()
        assert list(links) == ["U-1", "U-2"]


def test_quarantine_keeps_one_copy_of_a_bad_payload(engine) -> None:
    with engine.begin() as conn:
        assert quarantine(conn, source="hl7", position="a.hl7@120", reason="no MSH",
                          raw_payload=b"PID|garbage")
        assert not quarantine(conn, source="hl7", position="a.hl7@120", reason="no MSH",
                              raw_payload=b"PID|garbage")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quarantined_records)).scalar() == 1


def test_watermark_moves_with_its_transaction(engine) -> None:
    with engine.begin() as conn:
        write_watermark(conn, "billing", "ChargeItem", "2026-11-18T10:00:00.000Z")
    try:
        with engine.begin() as conn:
            write_watermark(conn, "billing", "ChargeItem", "2026-11-19T00:00:00.000Z")
            raise RuntimeError("crash mid-page")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert read_watermark(conn, "billing", "ChargeItem") == "2026-11-18T10:00:00.000Z"
        assert conn.execute(select(func.count()).select_from(source_watermarks)).scalar() == 1
