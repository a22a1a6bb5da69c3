"""The estate_factory harness: a served estate, its files, truth and demo sources."""

from __future__ import annotations

import json

import httpx

from core.config import SourceConfig
from simulator.timefmt import parse_iso_ms


def test_factory_serves_writes_and_configures(estate_factory) -> None:
    running = estate_factory(faults="none")
    assert httpx.get(f"{running.base_url}/health").text == "ok"
    on_disk = json.loads((running.out_dir / "truth.json").read_text())
    assert on_disk["counts"] == running.truth["counts"]
    logs = sorted(p.relative_to(running.out_dir).as_posix()
                  for p in (running.out_dir / "hl7").rglob("*.hl7"))
    assert logs == [f"hl7/FAC01_{ch}/FAC01_{ch}-2026111{day}.hl7"
                    for ch in ("ADT_IN", "CHG_OUT") for day in (8, 9)]
    sources = [SourceConfig(**s) for s in running.sources]
    assert {s.kind for s in sources} == {"fhir_billing", "fhir_usage", "odata_erp", "hl7_log",
                                         "engine_stats"}
    assert estate_factory(faults="none") is running  # cached for the session
    assert estate_factory(faults="none", fresh=True) is not running


def test_live_factory_serves_the_wall_clock_and_appends_logs(estate_factory) -> None:
    import time

    running = estate_factory(live=True, faults="none", days=1, volume_scale=5.0)
    assert running.truth["live"] is True
    before = httpx.get(f"{running.base_url}/engine/api/channels").json()
    assert abs(parse_iso_ms(before["generatedAt"]) - time.time() * 1000) < 5_000
    estate = running.estate
    assert estate.start_ms < estate.end_ms <= time.time() * 1000 < estate.horizon_ms
    files = list((running.out_dir / "hl7").rglob("*.hl7"))
    assert files and all(f.stat().st_size > 0 for f in files)
    size = sum(f.stat().st_size for f in files)
    # the writer thread has appended everything logged up to (about) now, nothing beyond
    logged = sum(len(e.data) for entries in estate.hl7.channels.values() for e in entries
                 if e.ready_ms <= time.time() * 1000 - 2_000)
    assert logged <= size < sum(len(e.data) for entries in estate.hl7.channels.values()
                                for e in entries)
