"""The HTTP collectors end to end on a real store (SQLite and PostgreSQL), against an
in-memory estate behind ``httpx.MockTransport``: paging, watermarks, faults, OAuth2."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from chargeline.config import OAuth2Client, Settings, SourceConfig
from chargeline.model import RunStatus
from collectors.runner import run_source
from store.schema import (
    api_calls,
    charges,
    claims,
    collector_runs,
    inventory_transactions,
    quarantined_records,
    usage_events,
)
from tests.collectors import payloads as p
from tests.collectors.fake_estate import BASE, FakeEstate

NO_SLEEP: Any = lambda _s: None  # noqa: E731


def billing(**kw: Any) -> SourceConfig:
    return SourceConfig(name="billing", kind="fhir_billing", base_url=f"{BASE}/billing/fhir",
                        oauth2=OAuth2Client(token_url=f"{BASE}/oauth/token",
                                            client_id="chargeline", client_secret="demo-secret"),
                        page_size=7, **kw)


def ts(i: int) -> str:
    return f"2026-11-18T10:{i // 60:02d}:{i % 60:02d}.000Z"


def estate_with(n: int) -> FakeEstate:
    estate = FakeEstate()
    estate.fhir["ChargeItem"] = [p.resource(p.CHARGE_ITEM, i, ts(i)) for i in range(n)]
    estate.fhir["SupplyDelivery"] = [p.resource(p.SUPPLY_DELIVERY, i, ts(i)) for i in range(n)]
    estate.fhir["Encounter"] = [p.ENCOUNTER]
    estate.fhir["Claim"] = [p.CLAIM]
    estate.fhir["ClaimResponse"] = [p.CLAIM_RESPONSE]
    estate.odata["InventoryTransactions"] = [
        {**p.INVENTORY_ROW, "DocumentId": f"INV-{i:06d}", "ModifiedAt": ts(i)} for i in range(n)]
    return estate


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def run(engine: Engine, source: SourceConfig, estate: FakeEstate) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, transport=estate.transport(), sleep=NO_SLEEP)


def test_fhir_billing_pages_all_records_once_and_repoll_adds_nothing(engine: Engine) -> None:
    estate = estate_with(30)
    first = run(engine, billing(), estate)
    assert first.status is RunStatus.OK
    assert count(engine, charges) == 30
    with engine.connect() as conn:
        claim = conn.execute(select(claims)).one()
    assert claim.outcome == "complete" and float(claim.paid_amount) == 1000.0
    second = run(engine, billing(), estate)
    assert second.status is RunStatus.NODATA
    assert count(engine, charges) == 30
    estate.fhir["ChargeItem"].append(p.resource(p.CHARGE_ITEM, 99, ts(200)))
    third = run(engine, billing(), estate)
    assert third.status is RunStatus.OK and third.written == 1
    assert count(engine, charges) == 31


def test_credit_and_phi_are_mapped(engine: Engine) -> None:
    estate = estate_with(1)
    credit = p.resource(p.CHARGE_ITEM, 5, ts(5))
    credit["partOf"] = [{"reference": "ChargeItem/CHG-FAC01-0000000"}]
    credit["quantity"]["value"] = -1
    credit["priceOverride"]["value"] = -1250.0
    estate.fhir["ChargeItem"].append(credit)
    run(engine, billing(), estate)
    with engine.connect() as conn:
        rows = {r.charge_id: r for r in conn.execute(select(charges))}
        dumped = " ".join(str(tuple(r)) for r in rows.values())
    assert rows["CHG-FAC01-0000005"].status == "credit"
    assert rows["CHG-FAC01-0000005"].reverses_charge_id == "CHG-FAC01-0000000"
    assert rows["CHG-FAC01-0000000"].facility_id == "FAC01"
    assert rows["CHG-FAC01-0000000"].patient_token.startswith("pt_")
    assert "MRN0012345" not in dumped and "DOE" not in dumped


@pytest.mark.parametrize("fault", ["5xx", "429", "timeout", "truncated"])
def test_transient_faults_are_retried_and_logged(engine: Engine, fault: str) -> None:
    estate = estate_with(20)
    estate.fault_rule = lambda key: fault if "ChargeItem" in key else ""
    result = run(engine, billing(), estate)
    assert result.status is RunStatus.OK
    assert count(engine, charges) == 20
    with engine.connect() as conn:
        calls = conn.execute(select(api_calls).where(api_calls.c.endpoint.like("%ChargeItem"))
                             ).all()
    failed = [c for c in calls if c.error_class]
    assert len(failed) == 3  # 20 records / 7 a page = 3 pages, each failing once
    assert all(c.attempt == 1 for c in failed)
    assert {c.attempt for c in calls if not c.error_class} == {2}


def test_a_page_still_truncated_is_quarantined_and_the_run_is_an_error(engine: Engine) -> None:
    estate = estate_with(20)
    estate.fault_rule = lambda key: "always_truncated" if "_offset=7" in key else ""
    result = run(engine, billing(max_retries=1), estate)
    assert result.status is RunStatus.ERROR
    assert count(engine, charges) == 7  # the first page; nothing after the bad one is lost:
    with engine.connect() as conn:
        q = conn.execute(select(quarantined_records)).one()
        run_row = conn.execute(select(collector_runs)).one()
    assert "truncated" in q.reason and "_offset=7" in q.position
    assert run_row.status == "error"
    estate.fault_rule = None
    assert run(engine, billing(), estate).status is RunStatus.OK
    assert count(engine, charges) == 20


def test_expired_or_revoked_token_is_refreshed_once(engine: Engine) -> None:
    estate = estate_with(20)
    real = estate.handle

    def revoke_first(request: Any) -> Any:
        if estate.tokens_issued == 1 and "ChargeItem" in request.url.path:
            estate.revoked.add("tok1")
        return real(request)

    estate.handle = revoke_first  # type: ignore[method-assign]
    result = run(engine, billing(), estate)
    assert result.status is RunStatus.OK
    assert estate.tokens_issued == 2
    assert count(engine, charges) == 20


def test_invalid_resource_is_quarantined_and_neighbours_ingested(engine: Engine) -> None:
    estate = estate_with(10)
    estate.fhir["ChargeItem"][4]["status"] = "no-such-status"
    estate.fhir["ChargeItem"][6]["quantity"] = "lots"
    result = run(engine, billing(), estate)
    assert result.quarantined == 2 and result.status is RunStatus.OK
    assert count(engine, charges) == 8
    with engine.connect() as conn:
        positions = sorted(r.position for r in conn.execute(select(quarantined_records)))
    assert all("#entry" in pos for pos in positions)


def test_usage_and_erp(engine: Engine) -> None:
    estate = estate_with(15)
    usage = SourceConfig(name="ehr", kind="fhir_usage", base_url=f"{BASE}/ehr/fhir", page_size=4)
    erp = SourceConfig(name="erp", kind="odata_erp", base_url=f"{BASE}/erp/odata", page_size=4)
    assert run(engine, usage, estate).status is RunStatus.OK
    assert run(engine, erp, estate).status is RunStatus.OK
    assert count(engine, usage_events) == 15
    assert count(engine, inventory_transactions) == 15
    with engine.connect() as conn:
        qty = conn.execute(select(inventory_transactions.c.quantity)).scalars().all()
    assert all(q < 0 for q in qty)  # an ISSUE takes stock out
    assert run(engine, erp, estate).status is RunStatus.NODATA


def test_failing_source_is_error_never_nodata(engine: Engine) -> None:
    estate = FakeEstate()
    estate.fault_rule = lambda key: "5xx"
    estate.attempts.update({})
    source = SourceConfig(name="erp", kind="odata_erp", base_url=f"{BASE}/nowhere",
                          max_retries=1)
    result = run(engine, source, estate)
    assert result.status is RunStatus.ERROR
