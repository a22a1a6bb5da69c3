"""Renderings of a running estate: one truth file for all, the sources pointed at the
mapping overrides each needs, and the rendering on the wire and in the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import yaml

from collectors.mapping import load_mapping
from core.config import SourceConfig
from simulator.rendering import RENDERINGS
from simulator.timefmt import parse_iso_ms
from tests.simulator.walk import bearer, fhir_all

OPTIONS = {"seed": 13, "facilities": 3, "days": 2, "volume_scale": 0.1, "faults": "high",
           "http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0}
KINDS = {"billing": "fhir_billing", "ehr-usage": "fhir_usage", "erp": "odata_erp",
         "engine-logs": "hl7_log"}


def test_every_rendering_of_a_seed_has_the_same_truth_file(estate_factory) -> None:
    running = {name: estate_factory(rendering=name, **OPTIONS) for name in RENDERINGS}
    truth = (running["plain"].out_dir / "truth.json").read_bytes()
    assert len({r.base_url for r in running.values()}) == len(RENDERINGS)
    for name, estate in running.items():
        assert estate.rendering == RENDERINGS[name]
        assert (estate.out_dir / "truth.json").read_bytes() == truth, name
        assert (estate.out_dir / "rendering.json").exists() == (name != "plain")
    assert estate_factory(rendering="world", **OPTIONS) is running["world"]  # cached


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_the_sources_read_each_rendering_through_its_mapping_files(estate_factory,
                                                                   name: str) -> None:
    running = estate_factory(rendering=name, **OPTIONS)
    expected = RENDERINGS[name].mapping_overrides(running.truth["facilities"])
    mapped = {s["name"]: s["mapping"] for s in running.sources if "mapping" in s}
    assert mapped.keys() == expected.keys()
    for source in running.sources:
        SourceConfig.model_validate(source)
    for source, path in mapped.items():
        assert Path(path).parent == running.out_dir / "mappings"
        assert yaml.safe_load(Path(path).read_text()) == expected[source]
        load_mapping(KINDS[source], path)  # the collectors accept the override
    if name in ("mixed_zones", "world"):
        assert yaml.safe_load(Path(mapped["ehr-usage"]).read_text())["facility_time_zones"] \
            == {"FAC01": "America/New_York", "FAC02": "America/Chicago",
                "FAC03": "Asia/Kolkata"}
    if name in ("unit_price", "world"):
        assert "times" in str(yaml.safe_load(Path(mapped["billing"]).read_text()))


def test_the_world_is_served_in_local_time_and_searches_by_instant(estate_factory) -> None:
    plain = estate_factory(rendering="plain", **OPTIONS)
    world = estate_factory(rendering="world", **OPTIONS)
    with httpx.Client(base_url=world.base_url, headers=bearer(world.base_url)) as client, \
            httpx.Client(base_url=plain.base_url, headers=bearer(plain.base_url)) as other:
        zoned = fhir_all(client, "ChargeItem")
        utc = fhir_all(other, "ChargeItem")
        assert [c["id"] for c in zoned] == [c["id"] for c in utc]
        assert {c["enteredDate"][-6:] for c in zoned} == {"-05:00", "-06:00", "+05:30"}
        usage = fhir_all(client, "SupplyDelivery")
        assert all(u["occurrenceDateTime"].endswith("Z") for u in usage)
        # a search bound written with an offset (the + sent encoded) means its instant
        pivot = next(c for c in zoned[len(zoned) // 2:] if c["enteredDate"].endswith("+05:30"))
        bound = pivot["meta"]["lastUpdated"]
        after = fhir_all(client, "ChargeItem", {"_lastUpdated": f"gt{bound}"})
        assert after and all(parse_iso_ms(c["meta"]["lastUpdated"]) >
                             parse_iso_ms(pivot["meta"]["lastUpdated"]) for c in after)
        assert len(after) == sum(parse_iso_ms(c["meta"]["lastUpdated"]) >
                                 parse_iso_ms(pivot["meta"]["lastUpdated"]) for c in zoned)
        rows = client.get("/erp/odata/InventoryTransactions", params={"$top": 50}).json()["value"]
        assert rows and all("MovedAt" in r for r in rows)
        assert all(parse_iso_ms(a["ModifiedAt"]) <= parse_iso_ms(b["ModifiedAt"])
                   for a, b in pairwise(rows))
        # the engine's own statistics API is not a facility system: unchanged
        assert client.get("/engine/api/channels").json() == \
            other.get("/engine/api/channels").json()
    logs = sorted((world.out_dir / "hl7").rglob("*.hl7"))
    assert logs and any(b"\r\r\n" in p.read_bytes() for p in logs)


def test_simulate_writes_a_rendering_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "chargeline", "simulate", "--no-serve", "--facilities", "2",
           "--days", "1", "--volume-scale", "0.05", "--end", "2026-11-20"]
    out = tmp_path / "world"
    result = subprocess.run([*cli, "--out", str(out), "--rendering", "world"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "rendering:  world" in result.stdout
    info = json.loads((out / "rendering.json").read_text())
    assert info["rendering"] == "world" and info["settings"]["price_basis"] == "unit"
    assert sorted(p.name for p in (out / "mappings").glob("*.yaml")) == \
        ["billing.yaml", "ehr-usage.yaml", "engine-logs.yaml", "erp.yaml"]
    # the same folder written plain again: no mapping or rendering file left behind
    result = subprocess.run([*cli, "--out", str(out)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert not (out / "rendering.json").exists() and not list((out / "mappings").glob("*"))
    bad = subprocess.run([*cli, "--out", str(tmp_path / "x"), "--rendering", "martian"],
                         capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "martian" in lines[0], lines
    assert not (tmp_path / "x").exists()
