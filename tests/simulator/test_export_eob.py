"""An export with ``--remittance fhir`` writes each claim payment also as a FHIR R4
ExplanationOfBenefit (billing/ExplanationOfBenefit.ndjson), and ``chargeline ingest`` of
that file stores exactly the remittances, lines and adjustments ingesting the export's 835
files does, row for row (the facility aside: the 835 names it by the payee's NPI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select
from typer.testing import CliRunner

from chargeline.cli import app
from simulator.config import EstateConfig, FaultRates
from simulator.estate import Estate, build_estate
from simulator.export import export_estate
from simulator.payers import npi
from simulator.rendering import Rendering
from store.engine import make_engine
from store.schema import (
    quarantined_records,
    remittance_adjustments,
    remittance_lines,
    remittances,
)

LINEAGE = {"source", "record_hash", "ingested_at"}  # who wrote it and when, not what


@pytest.fixture(scope="module")
def estate() -> Estate:
    return build_estate(EstateConfig(seed=7, facilities=2, days=7, volume_scale=0.3,
                                     end=datetime.fromisoformat("2026-11-20T00:00+00:00"),
                                     faults=FaultRates.preset("default")), progress=False)


@pytest.fixture(scope="module")
def exported(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_estate(estate, tmp_path_factory.mktemp("export-eob"),
                         Rendering(remittance="fhir")).out


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    yield


def _ingest(url: str, *paths: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", *map(str, paths)],
                                env={"CHARGELINE_DATABASE_URL": url})
    assert result.exit_code == 0, (result.output, result.exception)


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in (remittances, remittance_lines, remittance_adjustments):
                columns = [c for c in table.c if c.name not in LINEAGE]
                out[table.name] = sorted(tuple(r) for r in conn.execute(select(*columns)))
            out["quarantined"] = list(conn.execute(select(quarantined_records.c.position)))
            return out
    finally:
        engine.dispose()


def test_the_eobs_are_the_835s_claim_payments(estate: Estate, exported: Path,
                                              tmp_path: Path, sqlite_template: Path) -> None:
    path = exported / "billing" / "ExplanationOfBenefit.ndjson"
    resources = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(resources) == estate.truth["remittances"]["claims"] > 0
    model = get_fhir_model_class("ExplanationOfBenefit")
    for resource in resources:
        model.model_validate(resource)
    urls = {}
    for name, source in (("eob", path), ("x12", exported / "x12")):
        store = tmp_path / f"{name}.db"
        store.write_bytes(sqlite_template.read_bytes())
        urls[name] = f"sqlite:///{store}"
        _ingest(urls[name], source)
    from_eob, from_835 = _rows(urls["eob"]), _rows(urls["x12"])
    assert len(from_eob["remittances"]) == len(resources)
    # an ingested 835 names its payee by NPI (no facility_by_payee on the command line)
    facility = {npi(n): f"FAC{n:02d}" for n in (1, 2)}
    from_835["remittances"] = [(*r[:2], facility[r[2]], *r[3:]) for r in from_835["remittances"]]
    assert from_eob == from_835
