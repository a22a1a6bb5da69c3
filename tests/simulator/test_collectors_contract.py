"""The collectors read the served estate per the contract (docs/wire-formats.md): every
source ingests, nothing is quarantined but the injected malformed HL7, which is
quarantined at exactly the file and byte offset truth.json gives."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from collectors.runner import run_source
from core.config import Settings, SourceConfig
from store.schema import charges, inventory_transactions, quarantined_records, usage_events


def test_collectors_ingest_the_estate_and_quarantine_exactly_the_malformed_hl7(
        estate_factory, engine: Engine, store_url: str) -> None:
    running = estate_factory(faults="none", malformed_hl7=0.02)
    sources = [SourceConfig(**s) for s in running.sources]
    settings = Settings(database_url=store_url, sources=sources)
    for source in sources:
        result = run_source(settings, engine, source, sleep=lambda _: None)
        assert result is not None and result.status.value == "ok", (source.name, result)
    malformed = {f"{f['file']}@{f['offset']}" for f in running.truth["faults"]
                 if f["kind"] == "malformed_hl7"}
    assert malformed
    with engine.connect() as conn:
        positions = conn.execute(select(quarantined_records.c.source,
                                        quarantined_records.c.position)).all()
        assert {p for _, p in positions} == malformed
        assert {s for s, _ in positions} == {"engine-logs"}
        counts = running.truth["counts"]
        for table, expected in ((usage_events, counts["usage_events"]),
                                (charges, counts["charges"]),
                                (inventory_transactions, counts["inventory_transactions"])):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == expected
