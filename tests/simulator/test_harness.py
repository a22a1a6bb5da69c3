"""The estate_factory harness: a served estate, its files, truth and demo sources."""

from __future__ import annotations

import json

import httpx

from chargeline.config import SourceConfig


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
