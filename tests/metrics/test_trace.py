"""The transaction trace finds every hop by usage, encounter, charge or control id."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import ReplenishmentDocument, ReplenishmentKind
from metrics.compute.run import compute
from metrics.read.trace import trace
from store.upsert import upsert_records
from tests.metrics.factories import FAC, LOC, T0, at, master_data, trap_estate


@pytest.fixture
def store(engine: Engine) -> Engine:
    requisition = ReplenishmentDocument(
        document_id="REQ1", doc_kind=ReplenishmentKind.REQUISITION, facility_id=FAC,
        location_id=LOC, item_id="IMP1", quantity=Decimal(2), status="RECEIVED",
        created_at=at(25), ordered_at=at(60), received_at=at(60 * 26), modified_at=at(60 * 26))
    with engine.begin() as conn:
        upsert_records(conn, [*master_data(), *trap_estate(), requisition], source="test",
                       now=T0 + timedelta(days=1))
    compute(engine, ChargeSla(), now=T0 + timedelta(days=2))
    return engine


def _hops(result, usage_id: str) -> list[tuple[str, str, str]]:
    (t,) = [t for t in result.traces if t.usage_id == usage_id]
    return [(h.hop, h.record_id, h.method) for h in t.hops]


def test_complete_chain_with_replenishment(store: Engine) -> None:
    result = trace(store, "u1")
    assert result.kind == "usage"
    assert _hops(result, "u1") == [
        ("usage", "u1", ""), ("received", "M1", "usage_id"), ("sent", "M1", "usage_id"),
        ("charge", "c1", "usage_id"), ("inventory", "i1", "usage_id"),
        ("replenishment", "REQ1", "location_item_time")]
    (t,) = result.traces
    assert (t.stopped_at, t.missing, t.capture, t.inventory) == ("", (), "on_time", "issued")
    assert [h.at for h in t.hops][:2] == [at(0), at(1)]


def test_reversal_and_where_the_chain_stopped(store: Engine) -> None:
    (t,) = trace(store, "u4").traces
    assert [(h.hop, h.record_id) for h in t.hops if h.hop in ("charge", "credit")] == [
        ("charge", "c4a"), ("credit", "c4b"), ("charge", "c4c")]
    assert t.stopped_at == "received"  # no HL7 message was logged for this scan
    (t13,) = trace(store, "u13").traces
    assert "inventory" in t13.missing and t13.inventory == "missing"


def test_links_found_by_control_id_and_fallback(store: Engine) -> None:
    assert ("charge", "c16", "control_id") in _hops(trace(store, "u16"), "u16")
    hops = _hops(trace(store, "u17"), "u17")
    assert ("charge", "c17", "fallback") in hops and ("inventory", "i17", "fallback") in hops


def test_by_encounter_charge_and_control_id(store: Engine) -> None:
    enc = trace(store, "ENC2")
    assert enc.kind == "encounter"
    assert [t.usage_id for t in enc.traces] == ["u15a", "u15b", "u16", "u17"]
    (dup,) = [h for t in enc.traces for h in t.hops if h.record_id == "c15b"]
    assert dup.detail["duplicate_of"] == "c15a" and dup.detail["duplicate_key"] == "serial"
    by_charge = trace(store, "c16")
    assert (by_charge.kind, [t.usage_id for t in by_charge.traces]) == ("charge", ["u16"])
    by_msg = trace(store, "M2")
    assert (by_msg.kind, [t.usage_id for t in by_msg.traces]) == ("control_id", ["u2", "u3"])


def test_unlinked_and_unknown_keys(store: Engine) -> None:
    orphan = trace(store, "cz")
    assert (orphan.kind, orphan.traces) == ("charge", ())
    assert [h.record_id for h in orphan.unlinked] == ["cz"]
    assert trace(store, "no-such-thing").kind == "none"
    as_json = trace(store, "u1").as_dict()
    assert as_json["traces"][0]["hops"][0]["at"] == at(0).isoformat()
