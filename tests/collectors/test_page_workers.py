"""Long FHIR streams are converted on worker processes and committed in order: the store
ends exactly as an in-process pass leaves it (same rows, same hashes, same call log
counts), a page still cut off mid-stream commits every page before it and nothing after,
and the next pass completes the stream without duplicates. The estate reports a
Bundle.total of a backlog worth the workers (a server may give an estimate)."""

from __future__ import annotations

import re
import resource
from typing import Any

from sqlalchemy import Engine, delete, func, select

from collectors.page_tasks import START_BACKLOG
from collectors.runner import run_source
from collectors.workers import close_idle_pools
from core.config import OAuth2Client, Settings, SourceConfig
from core.model import RunStatus
from store.schema import (
    api_calls,
    charges,
    claims,
    collector_runs,
    encounters,
    inventory_transactions,
    quarantined_records,
    source_watermarks,
)
from tests.collectors import payloads as p
from tests.collectors.fake_estate import FakeEstate

N = 240


def ts(i: int) -> str:
    return f"2026-11-18T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"


def fill(estate: FakeEstate) -> None:
    estate.fhir["ChargeItem"] = [p.resource(p.CHARGE_ITEM, i, ts(i)) for i in range(N)]
    for bad in (13, 77, 201):  # invalid resources on pages handled by different workers
        estate.fhir["ChargeItem"][bad]["status"] = "no-such-status"
    estate.fhir["Encounter"] = [p.ENCOUNTER]
    estate.fhir["Claim"] = [p.CLAIM]
    estate.fhir["ClaimResponse"] = [p.CLAIM_RESPONSE]
    estate.odata["InventoryTransactions"] = [
        {**p.INVENTORY_ROW, "DocumentId": f"INV-{i:06d}", "ModifiedAt": ts(i)} for i in range(N)]


def billing(estate: FakeEstate, page_size: int, **kw: Any) -> SourceConfig:
    base = estate.base_url
    return SourceConfig(name="billing", kind="fhir_billing", base_url=f"{base}/billing/fhir",
                        page_size=page_size,
                        oauth2=OAuth2Client(token_url=f"{base}/oauth/token",
                                            client_id="chargeline", client_secret="demo-secret"),
                        **kw)


def erp(estate: FakeEstate, page_size: int) -> SourceConfig:
    return SourceConfig(name="erp", kind="odata_erp", base_url=f"{estate.base_url}/erp/odata",
                        page_size=page_size)


def run(engine: Engine, source: SourceConfig) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, sleep=lambda _s: None)


def snapshot(engine: Engine) -> dict[str, Any]:
    """What a pass left in the store, without the times of the pass itself."""
    with engine.connect() as conn:
        rows = {t.name: sorted(tuple(v for k, v in r._mapping.items() if k != "ingested_at")
                               for r in conn.execute(select(t)))
                for t in (charges, claims, encounters, inventory_transactions)}
        rows["watermarks"] = sorted(tuple(r) for r in conn.execute(
            select(source_watermarks.c.source, source_watermarks.c.stream,
                   source_watermarks.c.cursor)))
        rows["quarantine"] = sorted(tuple(r) for r in conn.execute(select(
            quarantined_records.c.position, quarantined_records.c.reason)))
        rows["rows_logged"] = conn.execute(select(api_calls.c.endpoint, func.sum(api_calls.c.rows))
                                           .group_by(api_calls.c.endpoint)
                                           .order_by(api_calls.c.endpoint)).all()
    return rows


def forget(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (charges, claims, encounters, inventory_transactions, source_watermarks,
                      quarantined_records, api_calls, collector_runs):
            conn.execute(delete(table))


def unplaced(quarantine: list[tuple[str, str]]) -> list[str]:
    """The rejects' reasons without their page URLs (the page sizes differ)."""
    return sorted(re.sub(r" at \S+#entry\d+", "", reason) for _position, reason in quarantine)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_workers_leave_the_store_an_in_process_pass_leaves(engine: Engine,
                                                            estate: FakeEstate) -> None:
    fill(estate)
    # one page per stream: converted in-process
    assert run(engine, billing(estate, page_size=1000)).status is RunStatus.OK
    assert run(engine, erp(estate, page_size=1000)).status is RunStatus.OK
    in_process = snapshot(engine)
    forget(engine)
    # 48 pages per stream, a backlog by Bundle.total: converted on the workers
    close_idle_pools()
    before = children_cpu()
    estate.bundle_total = START_BACKLOG + N
    first = run(engine, billing(estate, page_size=5))
    assert first.status is RunStatus.OK and first.quarantined == 3
    assert run(engine, erp(estate, page_size=5)).status is RunStatus.OK
    close_idle_pools()
    assert children_cpu() > before  # worker processes converted pages
    on_workers = snapshot(engine)
    assert on_workers.pop("rows_logged") == in_process.pop("rows_logged")
    assert unplaced(on_workers.pop("quarantine")) == unplaced(in_process.pop("quarantine"))
    assert on_workers == in_process
    assert len(on_workers["charges"]) == N - 3
    assert len(on_workers["inventory_transactions"]) == N
    # a re-poll reads the overlap window again and writes nothing
    again = run(engine, billing(estate, page_size=5))
    assert again.status is RunStatus.NODATA and again.written == 0


def test_a_page_cut_off_mid_stream_commits_the_pages_before_it(engine: Engine,
                                                               estate: FakeEstate) -> None:
    fill(estate)
    estate.fault_rule = lambda key: "always_truncated" if "_offset=150" in key else ""
    estate.bundle_total = START_BACKLOG + N  # a backlog: the workers convert the pages
    close_idle_pools()
    before = children_cpu()
    result = run(engine, billing(estate, page_size=5, max_retries=1))
    assert result.status is RunStatus.ERROR
    close_idle_pools()
    assert children_cpu() > before  # worker processes converted pages
    with engine.connect() as conn:
        ids = conn.execute(select(charges.c.charge_id)).scalars().all()
        cursor = conn.execute(select(source_watermarks.c.cursor).where(
            source_watermarks.c.stream == "ChargeItem")).scalar_one()
        cut = conn.execute(select(quarantined_records).where(
            quarantined_records.c.reason.like("%truncated%"))).one()
    # every page before the cut-off one (30 pages, 2 invalid resources among them),
    # nothing after it, and the watermark at the newest committed record
    assert sorted(ids) == sorted(f"CHG-FAC01-{i:07d}" for i in range(150) if i not in (13, 77))
    assert cursor == ts(149)
    assert "_offset=150" in cut.position
    estate.fault_rule = None
    assert run(engine, billing(estate, page_size=5)).status is RunStatus.OK
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(charges)).scalar_one() == N - 3
