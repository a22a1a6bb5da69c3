"""The upserts' driver SQL stores what SQLAlchemy's own statement would, on both
backends: for a record of every kind, each stored value (SQLite: the raw stored text and
its storage class) equals the value written through ``insert(table)`` into an identical
row, and reads back as the record's own value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, Table, delete, insert, select

from core.model import (
    AckCode,
    CanonicalRecord,
    CdmEntry,
    ChannelStats,
    Charge,
    ChargeStatus,
    Claim,
    ClaimLine,
    ContractPrice,
    Crosswalk,
    Encounter,
    Facility,
    InterfaceMessage,
    InventoryTransaction,
    InventoryTxnType,
    Item,
    ItemClass,
    ItemUom,
    Location,
    MessageStatus,
    Remittance,
    RemittanceAdjustment,
    RemittanceLine,
    ReorderPoint,
    ReplenishmentDocument,
    ReplenishmentKind,
    UsageEvent,
)
from store.schema import FACT_TABLES, source_watermarks
from store.upsert import prepare_records, upsert_records, upsert_rows, write_prepared

T0 = datetime(2026, 11, 18, 10, 15, 32, 123456, tzinfo=UTC)
T1 = datetime(1999, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: stored with .000000


def one_of_each() -> list[CanonicalRecord]:
    return [
        Facility(facility_id="FAC01", name="General"),
        Location(location_id="FAC01-OR1", facility_id="FAC01", name="OR 1", cost_centre="C1"),
        Item(item_id="ITM-1", description="Screw", unit_cost=Decimal("12.50"),
             item_class=ItemClass.IMPLANT, chargeable=True, serialised=False, gtin="0123",
             modified_at=T1),
        ItemUom(item_id="ITM-1", uom="BX", factor=Decimal("10.0000")),
        ReorderPoint(item_id="ITM-1", location_id="FAC01-OR1", reorder_point=Decimal("2.5"),
                     par_level=Decimal("10")),
        CdmEntry(cdm_code="2780001713", description="Screw", hcpcs="C1713", price=Decimal("99")),
        Crosswalk(item_id="ITM-1", cdm_code="2780001713"),
        ContractPrice(contract_id="K-1", item_id="ITM-1", supplier="Acme",
                      price=Decimal("11.25"), valid_from=date(2026, 1, 1), valid_to=None,
                      modified_at=T0),
        Encounter(encounter_id="ENC-1", facility_id="FAC01", patient_token="pt_1",
                  encounter_class="IMP", started_at=T1, ended_at=None, last_updated=T0),
        UsageEvent(usage_id="U-1", facility_id="FAC01", location_id="FAC01-OR1",
                   encounter_id="ENC-1", item_ref="ITM-1", quantity=Decimal("-1.5"),
                   used_at=T0, recorded_at=None, lot="L", source="hl7"),
        InterfaceMessage(channel="CH", control_id="MSG-1", message_type="DFT^P03",
                         usage_ids=("U-1",), received_at=T0, sent_at=T1,
                         status=MessageStatus.SENT, ack_code=AckCode.AA),
        InterfaceMessage(channel="CH", control_id="MSG-2", message_type="DFT^P03",
                         received_at=T0, status=MessageStatus.QUEUED, ack_code=None,
                         error="naïve ünïcode"),
        Charge(charge_id="CHG-1", facility_id="FAC01", encounter_id="ENC-1",
               cdm_code="2780001713", quantity=Decimal("1"), amount=Decimal("-125.07"),
               service_date=date(2026, 11, 18), posted_at=T0, status=ChargeStatus.CREDIT,
               reverses_charge_id="CHG-0", last_updated=T0),
        InventoryTransaction(document_id="D-1", facility_id="FAC01", location_id="FAC01-OR1",
                             item_id="ITM-1", txn_type=InventoryTxnType.ISSUE,
                             quantity=Decimal("-2"), unit_cost=None, posted_at=T0,
                             modified_at=T0),
        ReplenishmentDocument(document_id="R-1", doc_kind=ReplenishmentKind.REQUISITION,
                              facility_id="FAC01", location_id="FAC01-OR1", item_id="ITM-1",
                              quantity=Decimal("5"), status="open", created_at=T1,
                              modified_at=T0),
        Claim(claim_id="CL-1", facility_id="FAC01", encounter_id="ENC-1",
              total=Decimal("300.00"), status="active", created_at=T1,
              paid_amount=Decimal("250.5"), last_updated=T0),
        ClaimLine(claim_id="CL-1", line_no=1, line_control="CHG-1", revenue_code="0278",
                  procedure_code="C1776", modifiers="RT,59", units=Decimal("1.5"),
                  charge_amount=Decimal("300.00"), service_on=T1.date(), charge_id="CHG-1",
                  last_updated=T0),
        Remittance(remittance_id="EFT1:CL-1:P9", claim_id="CL-1", facility_id="FAC01",
                   payer_id="PAYER1", status_code="1", charge_amount=Decimal("300.00"),
                   paid_amount=Decimal("250.50"), patient_responsibility=Decimal("20"),
                   paid_at=T1, last_updated=T0),
        RemittanceLine(remittance_id="EFT1:CL-1:P9", line_no=1, claim_id="CL-1",
                       line_control="CHG-1", procedure_code="HC:C1776", revenue_code="0278",
                       charge_amount=Decimal("300.00"), paid_amount=Decimal("250.50"),
                       units=Decimal("1"), service_on=T1.date(), remark_codes="N130,M15",
                       last_updated=T0),
        RemittanceAdjustment(remittance_id="EFT1:CL-1:P9", line_no=1, seq=1, claim_id="CL-1",
                             group_code="CO", reason_code="45", amount=Decimal("29.50"),
                             last_updated=T0),
        ChannelStats(channel="CH", observed_at=T0, received=2**40, filtered=0, queued=3,
                     sent=5, errored=1, oldest_queued_at=T1),
    ]


def _raw(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    columns = [c.name for c in table.c]
    shown = ", ".join([*columns, *(f"typeof({c})" for c in columns)]) \
        if engine.dialect.name == "sqlite" else ", ".join(columns)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT {shown} FROM {table.name} ORDER BY 1, 2")]


def test_every_kind_is_stored_as_sqlalchemy_would_store_it(engine: Engine) -> None:
    records = one_of_each()
    assert {r.kind for r in records} == set(FACT_TABLES)
    prepared = prepare_records(records, source="src", now=T0 + timedelta(days=1))
    with engine.begin() as conn:
        assert write_prepared(conn, prepared) == len(records)
    for kind, rows in prepared.tables:
        table = FACT_TABLES[kind]
        fast = _raw(engine, table)
        with engine.begin() as conn:
            conn.execute(delete(table))
            conn.execute(insert(table), rows)  # SQLAlchemy's own binding of the same rows
        assert _raw(engine, table) == fast, kind
        with engine.connect() as conn:
            stored = [dict(r._mapping) for r in conn.execute(select(table))]
        key = [c.name for c in table.primary_key.columns]
        by_key = {tuple(r[k] for k in key): r for r in rows}
        for row in stored:
            assert row == by_key[tuple(row[k] for k in key)], kind  # reads back the same


def test_counts_and_idempotency_per_kind(engine: Engine) -> None:
    records = one_of_each()
    with engine.begin() as conn:
        assert upsert_records(conn, records, source="src", now=T0) == len(records)
    with engine.begin() as conn:
        assert upsert_records(conn, records, source="src", now=T0 + timedelta(hours=1)) == 0
    changed = [r.model_copy(update={"lot": "L2"}) if isinstance(r, UsageEvent) else r
               for r in records]
    with engine.begin() as conn:
        assert upsert_records(conn, changed, source="src", now=T0 + timedelta(hours=2)) == 1
    with engine.connect() as conn:
        usage = conn.execute(select(FACT_TABLES["usage_event"])).one()
        charge = conn.execute(select(FACT_TABLES["charge"])).one()
    assert usage.ingested_at == T0 + timedelta(hours=2) and usage.lot == "L2"
    assert charge.ingested_at == T0  # untouched


def test_an_overlong_key_fails_instead_of_being_cut(engine: Engine) -> None:
    # PostgreSQL cuts a value explicitly cast to varchar(n); the arrays are text, so the
    # column's own length check still refuses it (SQLite does not check lengths at all)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no length limit to enforce")
    with pytest.raises(Exception, match="too long"), engine.begin() as conn:
        upsert_rows(conn, source_watermarks, [{"source": "s" * 65, "stream": "x",
                                               "cursor": "c", "updated_at": T0}])


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="naive datetime"), engine.begin() as conn:
        upsert_rows(conn, source_watermarks, [{"source": "s", "stream": "x", "cursor": "c",
                                               "updated_at": datetime(2026, 1, 1)}])
