"""An x12_files (835, 837) source in the lineage: its collector pass is an OpenLineage run whose
outputs are the remittance and claim tables, and its system is billing, whatever its name."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sqlalchemy import Engine

from collectors.runner import run_source
from core.config import LineageConfig, Settings, SourceConfig
from core.model import RunStatus
from metrics.lineage.graph import system_of
from metrics.lineage.openlineage import emit_stored_run

DENIAL = Path(__file__).parents[1] / "data" / "x12" / "denial-835.txt"
# the remittance tables, and the claim tables an 837 in the same folder feeds
X12_TABLES = {"remittances", "remittance_lines", "remittance_adjustments", "claims",
              "claim_lines"}


def test_an_835_pass_outputs_the_remittance_tables(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "era"
    folder.mkdir()
    path = folder / "denial.835"
    shutil.copy(DENIAL, path)
    old = path.stat().st_mtime - 3600  # long untouched: its writer is done
    os.utime(path, (old, old))
    events = tmp_path / "lineage" / "events.ndjson"
    source = SourceConfig(name="era", kind="x12_files", path=str(folder),
                          facility_by_payee={"1234567893": "FAC01"})
    settings = Settings(database_url=str(engine.url), sources=[source],
                        lineage=LineageConfig(transport="file", path=str(events),
                                              namespace="test-estate"))
    result = run_source(settings, engine, source, on_run_finished=emit_stored_run)
    assert result is not None and result.status is RunStatus.OK, result
    end = json.loads(events.read_text().splitlines()[-1])
    assert end["eventType"] == "COMPLETE" and end["job"]["name"] == "collect.era"
    outputs = {o["name"].rsplit(".", 1)[-1] for o in end["outputs"]}
    assert outputs == X12_TABLES


def test_an_835_source_is_read_from_billing_whatever_its_name() -> None:
    assert system_of("era", "x12_files") == "billing"
    assert system_of("era") == "other"  # by name alone it could be anything


def test_a_failing_835_pass_still_names_the_tables_it_feeds(engine: Engine,
                                                             tmp_path: Path) -> None:
    """Nothing written, so the outputs come from the kind alone (TABLES_OF_KIND)."""
    events = tmp_path / "events.ndjson"
    source = SourceConfig(name="era", kind="x12_files", path=str(tmp_path / "missing"))
    settings = Settings(database_url=str(engine.url), sources=[source],
                        lineage=LineageConfig(transport="file", path=str(events)))
    result = run_source(settings, engine, source, on_run_finished=emit_stored_run,
                        sleep=lambda _s: None)
    assert result is not None and result.status is not RunStatus.OK
    end = json.loads(events.read_text().splitlines()[-1])
    assert end["eventType"] == "FAIL"
    assert {o["name"].rsplit(".", 1)[-1] for o in end["outputs"]} == X12_TABLES
