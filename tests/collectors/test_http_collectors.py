"""The HTTP collectors on a real store (SQLite and PostgreSQL) against a scriptable estate
over real HTTP: paging, watermarks, retries of transient faults only, Retry-After,
real timeouts, OAuth2 expiry and 401, the circuit, the call log, error versus nodata."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine, func, select

from collectors.circuit import OPEN_AFTER_FAILURES, circuit_for
from collectors.http import SourceHttp, _backoff
from collectors.incremental import format_instant, parse_instant
from collectors.mapping import load_mapping
from collectors.runner import run_source
from core.config import OAuth2Client, Settings, SourceConfig
from core.model import RunStatus
from store.schema import (
    api_calls,
    channel_stats,
    charges,
    claims,
    collector_runs,
    encounters,
    inventory_transactions,
    quarantined_records,
    usage_events,
)
from tests.collectors import payloads as p
from tests.collectors.fake_estate import FakeEstate, free_port


class Sleeps(list):
    """Records the waits a pass asks for instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def billing(estate: FakeEstate, secret: str = "demo-secret", **kw: Any) -> SourceConfig:
    base = estate.base_url
    kw.setdefault("page_size", 7)
    return SourceConfig(name="billing", kind="fhir_billing", base_url=f"{base}/billing/fhir",
                        oauth2=OAuth2Client(token_url=f"{base}/oauth/token",
                                            client_id="chargeline", client_secret=secret), **kw)


def ts(i: int) -> str:
    return f"2026-11-18T10:{i // 60:02d}:{i % 60:02d}.000Z"


def fill(estate: FakeEstate, n: int) -> FakeEstate:
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


def run(engine: Engine, source: SourceConfig, sleeps: Sleeps | None = None) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, sleep=sleeps if sleeps is not None else Sleeps())


def calls(engine: Engine, like: str = "%") -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(api_calls).where(api_calls.c.endpoint.like(like))
                            .order_by(api_calls.c.call_id)).all()


def test_fhir_billing_pages_all_records_once_and_repoll_adds_nothing(
        engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 30)
    first = run(engine, billing(estate))
    assert first.status is RunStatus.OK
    assert count(engine, charges) == 30
    with engine.connect() as conn:
        claim = conn.execute(select(claims)).one()
    assert claim.outcome == "complete" and float(claim.paid_amount) == 1000.0
    second = run(engine, billing(estate))
    assert second.status is RunStatus.NODATA and second.written == 0
    assert count(engine, charges) == 30
    # the re-poll asked only for what changed since the watermark minus the overlap
    overlap = billing(estate).overlap_seconds
    since = format_instant(parse_instant(ts(29)) - timedelta(seconds=overlap))
    query = urlencode({"_count": 7, "_sort": "_lastUpdated", "_lastUpdated": f"ge{since}"})
    assert f"/billing/fhir/ChargeItem?{query}" in estate.requests
    estate.fhir["ChargeItem"].append(p.resource(p.CHARGE_ITEM, 99, ts(200)))
    third = run(engine, billing(estate))
    assert third.status is RunStatus.OK and third.written == 1
    assert count(engine, charges) == 31


def test_late_arriving_record_inside_the_overlap_window_is_caught(
        engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 10)
    run(engine, billing(estate))
    # a record updated (by the source's clock) before the watermark becomes visible late
    estate.fhir["ChargeItem"].append(p.resource(p.CHARGE_ITEM, 50, ts(5)))
    result = run(engine, billing(estate, overlap_seconds=60))
    assert result.written == 1 and count(engine, charges) == 11


def test_credit_and_phi_are_mapped(engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 1)
    credit = p.resource(p.CHARGE_ITEM, 5, ts(5))
    credit["partOf"] = [{"reference": "ChargeItem/CHG-FAC01-0000000"}]
    credit["quantity"]["value"] = -1
    credit["priceOverride"]["value"] = -1250.0
    estate.fhir["ChargeItem"].append(credit)
    run(engine, billing(estate))
    with engine.connect() as conn:
        rows = {r.charge_id: r for r in conn.execute(select(charges))}
        dumped = " ".join(str(tuple(r)) for r in rows.values())
    assert rows["CHG-FAC01-0000005"].status == "credit"
    assert rows["CHG-FAC01-0000005"].reverses_charge_id == "CHG-FAC01-0000000"
    assert rows["CHG-FAC01-0000000"].facility_id == "FAC01"
    assert rows["CHG-FAC01-0000000"].patient_token.startswith("pt_")
    assert "MRN0012345" not in dumped and "DOE" not in dumped


@pytest.mark.parametrize("fault", ["5xx", "429", "timeout", "truncated"])
def test_transient_faults_are_retried_and_logged(engine: Engine, estate: FakeEstate,
                                                 fault: str) -> None:
    fill(estate, 20)
    estate.fault_rule = lambda key: fault if "ChargeItem" in key else ""
    estate.retry_after = "2"
    estate.timeout_seconds = 1.0
    sleeps = Sleeps()
    result = run(engine, billing(estate, timeout_seconds=0.3), sleeps)
    assert result.status is RunStatus.OK
    assert count(engine, charges) == 20
    logged = calls(engine, "%ChargeItem")
    failed = [c for c in logged if c.error_class]
    assert len(failed) == 3  # 20 records / 7 a page = 3 pages, each failing once
    assert all(c.attempt == 1 for c in failed)
    assert {c.attempt for c in logged if not c.error_class} == {2}
    expected_class = {"5xx": "ServerError", "429": "TooManyRequests", "timeout": "ReadTimeout",
                      "truncated": "TruncatedJson"}[fault]
    assert {c.error_class for c in failed} == {expected_class}
    if fault == "timeout":
        assert all(250 <= c.duration_ms < 900 for c in failed)  # cut by our timeout
        assert all(c.status_code is None for c in failed)
    if fault == "429":
        assert sum(s >= 2.0 for s in sleeps) == 3  # Retry-After honoured on each page
    ok = [c for c in logged if not c.error_class]
    assert sum(c.rows for c in ok) == 20 and all(c.status_code == 200 for c in ok)


def test_backoff_is_exponential_with_full_jitter() -> None:
    for attempt in range(1, 8):
        ceiling = min(10.0, 0.2 * 2 ** (attempt - 1))
        waits = [_backoff(attempt, None) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.7 and min(waits) < ceiling * 0.3  # spread, not fixed
    assert _backoff(1, 5.0) >= 5.0  # never shorter than Retry-After


def test_a_page_still_truncated_is_quarantined_and_the_run_is_an_error(
        engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 20)
    estate.fault_rule = lambda key: "always_truncated" if "_offset=7" in key else ""
    result = run(engine, billing(estate, max_retries=1))
    assert result.status is RunStatus.ERROR
    assert count(engine, charges) == 7  # the first page; nothing after the bad one is lost:
    with engine.connect() as conn:
        q = conn.execute(select(quarantined_records)).one()
        run_row = conn.execute(select(collector_runs)).one()
    assert "truncated" in q.reason and "_offset=7" in q.position and q.raw_payload
    assert run_row.status == "error" and "ChargeItem" in run_row.error
    assert count(engine, encounters) == 1  # the other streams went on
    estate.fault_rule = None
    assert run(engine, billing(estate)).status is RunStatus.OK
    assert count(engine, charges) == 20


def test_revoked_token_gets_one_refresh(engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 20)

    def revoke_first(key: str) -> None:
        if estate.tokens_issued == 1 and "ChargeItem" in key:
            estate.revoked.add("tok1")

    estate.on_request = revoke_first
    result = run(engine, billing(estate))
    assert result.status is RunStatus.OK
    assert estate.tokens_issued == 2
    assert count(engine, charges) == 20
    assert [c.status_code for c in calls(engine, "%ChargeItem")].count(401) == 1


def test_expired_token_is_renewed_before_use(estate: FakeEstate) -> None:
    fill(estate, 3)
    estate.token_expires_in = 1
    source = billing(estate)
    with httpx.Client(timeout=5) as client:
        http = SourceHttp(client, source, "run")
        url = f"{estate.base_url}/billing/fhir/ChargeItem"
        assert http.get_json(url)["resourceType"] == "Bundle"
        assert http.get_json(url)["resourceType"] == "Bundle"
        assert estate.tokens_issued == 1  # still valid: reused
        time.sleep(1.0)
        assert http.get_json(url)["resourceType"] == "Bundle"
    assert estate.tokens_issued == 2
    assert not any(c["status_code"] == 401 for c in http.calls)  # renewed, not refused


def test_wrong_client_secret_is_a_clear_error_not_retried(engine: Engine, estate: FakeEstate
                                                          ) -> None:
    fill(estate, 3)
    result = run(engine, billing(estate, secret="wrong"))
    assert result.status is RunStatus.ERROR
    assert "client_secret" in result.error and "401" in result.error
    token_calls = calls(engine, "/oauth/token")
    assert len(token_calls) == len(load_mapping("fhir_billing"))  # one per stream, none retried
    assert {c.error_class for c in token_calls} == {"ClientError"}


def test_401_after_a_fresh_token_fails_the_stream(engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 3)
    estate.on_request = lambda key: estate.revoked.update({f"tok{estate.tokens_issued}"})
    result = run(engine, billing(estate))
    assert result.status is RunStatus.ERROR
    assert "401 Unauthorized" in result.error


def test_client_errors_are_not_retried(engine: Engine, estate: FakeEstate) -> None:
    estate.fault_rule = lambda key: "404"
    source = SourceConfig(name="erp", kind="odata_erp", base_url=f"{estate.base_url}/erp/odata")
    result = run(engine, source)
    assert result.status is RunStatus.ERROR and "HTTP 404" in result.error
    logged = calls(engine)
    assert logged and all(c.attempt == 1 and c.status_code == 404 for c in logged)


def test_connection_refused_is_retried_then_an_error(engine: Engine) -> None:
    source = SourceConfig(name="erp", kind="odata_erp", max_retries=2,
                          base_url=f"http://127.0.0.1:{free_port()}/erp/odata")
    sleeps = Sleeps()
    result = run(engine, source, sleeps)
    assert result.status is RunStatus.ERROR and "ConnectError" in result.error
    logged = calls(engine, "%/Items")
    assert [c.attempt for c in logged] == [1, 2, 3]
    assert {c.error_class for c in logged} == {"ConnectError"}
    assert len(sleeps) >= 2


def test_the_circuit_backs_off_a_failing_source(engine: Engine, estate: FakeEstate) -> None:
    estate.fault_rule = lambda key: "always_5xx"
    source = SourceConfig(name="erp", kind="odata_erp", max_retries=0,
                          base_url=f"{estate.base_url}/erp/odata")
    now = [1000.0]
    circuit_for("erp").clock = lambda: now[0]
    for _ in range(OPEN_AFTER_FAILURES):
        assert run(engine, source).status is RunStatus.ERROR
    asked = len(estate.requests)
    skipped = run(engine, source)
    assert skipped.status is RunStatus.ERROR and "circuit open" in skipped.error
    assert len(estate.requests) == asked  # the source was left alone
    now[0] += 31
    estate.fault_rule = None
    assert run(engine, source).status is RunStatus.NODATA  # half-open probe succeeded
    assert circuit_for("erp").failures == 0
    with engine.connect() as conn:
        statuses = conn.execute(select(collector_runs.c.status)
                                .order_by(collector_runs.c.started_at)).scalars().all()
    assert statuses == ["error"] * (OPEN_AFTER_FAILURES + 1) + ["nodata"]


def test_invalid_resource_is_quarantined_and_neighbours_ingested(
        engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 10)
    estate.fhir["ChargeItem"][4]["status"] = "no-such-status"
    estate.fhir["ChargeItem"][6]["quantity"] = "lots"
    result = run(engine, billing(estate))
    assert result.quarantined == 2 and result.status is RunStatus.OK
    assert count(engine, charges) == 8
    with engine.connect() as conn:
        rows = conn.execute(select(quarantined_records)).all()
    assert all("#entry" in r.position and r.source == "billing" for r in rows)
    assert all("DOE" not in r.reason and "MRN" not in r.reason for r in rows)


def test_usage_and_erp(engine: Engine, estate: FakeEstate) -> None:
    fill(estate, 15)
    usage = SourceConfig(name="ehr", kind="fhir_usage", base_url=f"{estate.base_url}/ehr/fhir",
                         page_size=4)
    erp = SourceConfig(name="erp", kind="odata_erp", base_url=f"{estate.base_url}/erp/odata",
                       page_size=4)
    assert run(engine, usage).status is RunStatus.OK
    assert run(engine, erp).status is RunStatus.OK
    assert count(engine, usage_events) == 15
    assert count(engine, inventory_transactions) == 15
    with engine.connect() as conn:
        qty = conn.execute(select(inventory_transactions.c.quantity)).scalars().all()
    assert all(q < 0 for q in qty)  # an ISSUE takes stock out
    assert run(engine, erp).status is RunStatus.NODATA


def test_engine_statistics_snapshot(engine: Engine, estate: FakeEstate) -> None:
    estate.channels = [{"channelId": "FAC01_CHG_OUT", "facilityId": "FAC01", "name": "charges",
                        "state": "STARTED", "statistics": {"received": 10, "filtered": 1,
                                                           "queued": 2, "sent": 6, "errored": 1},
                        "oldestQueuedAt": "2026-11-25T09:58:00.000Z"}]
    source = SourceConfig(name="engine-stats", kind="engine_stats",
                          base_url=f"{estate.base_url}/engine/api")
    assert run(engine, source).status is RunStatus.OK
    assert run(engine, source).status is RunStatus.NODATA  # the same snapshot again
    with engine.connect() as conn:
        row = conn.execute(select(channel_stats)).one()
    assert (row.received, row.queued, row.errored) == (10, 2, 1)


def test_failing_source_is_error_never_nodata(engine: Engine, estate: FakeEstate) -> None:
    estate.fault_rule = lambda key: "always_5xx"
    source = SourceConfig(name="erp", kind="odata_erp", base_url=f"{estate.base_url}/erp/odata",
                          max_retries=1)
    result = run(engine, source)
    assert result.status is RunStatus.ERROR
    with engine.connect() as conn:
        row = conn.execute(select(collector_runs)).one()
    assert row.status == "error" and row.error_class and row.finished_at is not None


def test_client_secret_from_the_environment(engine: Engine, estate: FakeEstate,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fill(estate, 2)
    monkeypatch.setenv("RCM_SECRET", "demo-secret")
    assert run(engine, billing(estate, secret="env:RCM_SECRET")).status is RunStatus.OK
    monkeypatch.delenv("RCM_SECRET")
    missing = run(engine, billing(estate, secret="env:RCM_SECRET"))
    assert missing.status is RunStatus.ERROR and "RCM_SECRET is not set" in missing.error
    monkeypatch.setenv("CHARGELINE_SECRET_BILLING", "demo-secret")  # wins over the file
    assert run(engine, billing(estate, secret="stale")).status is not RunStatus.ERROR
