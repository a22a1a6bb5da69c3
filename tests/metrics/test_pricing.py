"""Chargemaster drift and supply cost above contract on a hand-built store with known
numbers, on SQLite and PostgreSQL: the one-cent-per-unit tolerance (exactly one cent is
not drift), credits, voided and reversed charges, charges before the window and CDM codes
without a line left out; the lowest of the contracts valid on the day the stock moved,
box units in base units, issues without cost, contract or conversion left out, receipts
not issues; NODATA where nothing is judged."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from core.config import ChargeSla
from core.metric_values import ValueStatus
from core.model import ChargeStatus, ContractPrice, InventoryTransaction, InventoryTxnType
from metrics.compute.run import compute
from metrics.read.pricing import judged_charges, judged_issues, off_price
from metrics.read.reader import StoreMetricReader
from store.upsert import upsert_records
from tests.metrics.factories import FAC, LOC, T0, at, charge, master_data

NOW = T0 + timedelta(hours=12)
DAY = timedelta(days=1)
CATH = "FAC01-CATH1"


def _issue(doc: str, item: str, minute: float, cost: str | None, *, qty: int = -1,
           uom: str = "EA", loc: str = LOC, moved_minute: float | None = None,
           kind: InventoryTxnType = InventoryTxnType.ISSUE) -> InventoryTransaction:
    return InventoryTransaction(
        document_id=doc, facility_id=FAC, location_id=loc, item_id=item, txn_type=kind,
        quantity=Decimal(qty), uom=uom, unit_cost=None if cost is None else Decimal(cost),
        posted_at=at(minute), moved_at=None if moved_minute is None else at(moved_minute),
        modified_at=at(minute))


def _contract(cid: str, item: str, price: str, valid_from: date,
              valid_to: date | None = None) -> ContractPrice:
    return ContractPrice(contract_id=cid, item_id=item, supplier="ACME",
                         price=Decimal(price), valid_from=valid_from, valid_to=valid_to)


def _charges() -> list:
    voided = charge("F", "C3", 10, amount=25)
    voided = voided.model_copy(update={"status": ChargeStatus.VOIDED})
    return [
        charge("A", "C1", 10, amount=1250),  # at the CDM price
        charge("B", "C1", 20, amount=1375),  # +125.00
        charge("C", "C2", 30, qty=10, amount=50.10),  # 5.01 a unit: exactly one cent off
        charge("D", "C2", 40, qty=10, amount=50.20),  # 5.02 a unit: +0.20
        charge("E", "C2", 50, qty=4, amount=18),  # 4.50 a unit: -2.00
        voided,  # 25 for a 20 line, voided: never billed
        charge("G", "C1", 60, amount=1000),  # reversed by H: does not survive
        charge("H", "C1", 90, qty=-1, amount=-1000, reverses="G"),
        charge("I", "C1", -24 * 60, amount=1300),  # posted before the window
        charge("J", "CX", 70, amount=99),  # a CDM code without a line
    ]


def _issues() -> list:
    # contracts: IMP1 450 (all year) and 430 (November): 430 is the lowest; CON1 1.80 until
    # 17 Nov, 1.90 from 18 Nov (both ends inclusive)
    return [
        _contract("K1", "IMP1", "450", date(2026, 1, 1)),
        _contract("K2", "IMP1", "430", date(2026, 11, 1), date(2026, 11, 30)),
        _contract("K3", "CON1", "1.80", date(2026, 1, 1), date(2026, 11, 17)),
        _contract("K4", "CON1", "1.90", date(2026, 11, 18)),
        _issue("I1", "IMP1", 10, "430"),  # at contract
        _issue("I2", "IMP1", 20, "440"),  # +10 x 1
        # 2 boxes of 10 that moved on 17 Nov (contract 1.80), posted on the 18th: +0.20 x 20
        _issue("I3", "CON1", 30, "2.00", qty=-2, uom="BX", moved_minute=-24 * 60 + 60),
        _issue("I4", "CON1", 40, "1.90", qty=-5),  # at contract
        _issue("I5", "CON1", 50, "1.91", qty=5),  # one cent above x 5 (a positive quantity)
        _issue("R1", "IMP1", 60, "999", kind=InventoryTxnType.RECEIPT),  # not an issue
        _issue("I7", "IMP2", 70, "999"),  # no contract
        _issue("I8", "IMP1", 80, None),  # no unit cost
        _issue("I9", "IMP1", -24 * 60, "999"),  # posted before the window
        _issue("I10", "IMP1", 90, "431", loc=CATH),  # +1 at another location
        _issue("I11", "CON1", 100, "5", uom="CS"),  # a unit the item master cannot convert
    ]


@pytest.fixture
def reader(engine: Engine) -> StoreMetricReader:
    with engine.begin() as conn:
        upsert_records(conn, [*master_data(), *_charges(), *_issues()], source="t", now=NOW)
    compute(engine, ChargeSla(), now=NOW)
    return StoreMetricReader(engine)


def test_cdm_drift_counts_the_surviving_charges_off_by_more_than_a_cent_a_unit(
        reader: StoreMetricReader) -> None:
    [count] = reader.values("cdm_price_drift_count", window=DAY, scope_keys=("facility",),
                            now=NOW)
    assert count.scope == {"facility": FAC} and count.status is ValueStatus.OK
    assert count.value == 3  # B, D, E
    assert count.detail["denominator"] == 5  # A..E judged
    assert count.amount == pytest.approx(127.20)
    [usd] = reader.values("cdm_price_drift_usd", window=DAY, scope_keys=(), now=NOW)
    assert usd.value == pytest.approx(127.20)  # absolute: 125 + 0.20 + 2
    assert usd.detail["net_usd"] == pytest.approx(123.20)
    assert usd.detail["over_usd"] == pytest.approx(125.20)
    assert usd.detail["under_usd"] == pytest.approx(-2.00)


def test_supply_cost_above_the_lowest_contract_of_the_day_in_base_units(
        reader: StoreMetricReader) -> None:
    by_loc = {v.scope["location"]: v for v in reader.values(
        "supply_cost_above_contract_usd", window=DAY, scope_keys=("location",), now=NOW)}
    assert set(by_loc) == {LOC, CATH}
    assert by_loc[LOC].value == pytest.approx(14.05)  # I2 10 + I3 4 + I5 0.05
    assert by_loc[LOC].detail["denominator"] == 5  # I1..I5
    assert by_loc[CATH].value == pytest.approx(1.0)
    [count] = reader.values("supply_cost_above_contract_count", window=DAY, scope_keys=(),
                            now=NOW)
    assert (count.value, count.detail["denominator"]) == (4, 6)
    assert count.amount == pytest.approx(15.05)


def test_a_window_with_nothing_posted_has_no_value(reader: StoreMetricReader) -> None:
    later = NOW + 5 * DAY
    for metric in ("cdm_price_drift_usd", "supply_cost_above_contract_count"):
        [v] = reader.values(metric, window=DAY, scope_keys=(), now=later)
        assert (v.status, v.value) == (ValueStatus.NODATA, None), metric
        assert reader.values(metric, window=DAY, scope_keys=("facility",), now=later) == []


def test_the_lists_name_the_off_price_records_largest_first(
        reader: StoreMetricReader, engine: Engine) -> None:
    with engine.connect() as conn:
        drifted = off_price(conn, judged_charges(NOW - DAY, NOW))
        above = off_price(conn, judged_issues(NOW - DAY, NOW))
    assert [(r["charge_id"], round(r["usd"], 2)) for r in drifted] == [
        ("B", 125.0), ("E", -2.0), ("D", 0.2)]
    assert (drifted[1]["cdm_price"], drifted[1]["amount"], drifted[1]["quantity"]) == (
        5.0, 18.0, 4.0)
    assert [(r["document_id"], round(r["usd"], 2)) for r in above] == [
        ("I2", 10.0), ("I3", 4.0), ("I10", 1.0), ("I5", 0.05)]
    assert (above[1]["quantity"], above[1]["contract_price"], above[1]["unit_cost"]) == (
        20.0, 1.8, 2.0)
