"""A file estate scores as its truth says: export, ``chargeline ingest``, compute, compare.

Estates produced by someone else arrive as files, not APIs: FHIR R4 NDJSON, HL7 v2 logs
(under ``world`` with the ACKs in a log of their own that sorts before the messages),
OData JSON pages. ``chargeline simulate --export`` writes a demo estate that way
(simulator/export.py); here each export is loaded through the real command line
(``chargeline ingest`` with a ``--mapping`` for every mapping override the rendering
wrote), the metrics computed at the truth's as-of time, and:

- the flagged records equal the truth (precision = recall = 1.0, $ to the cent; the one
  documented exception, an unlinked ERP issue between indistinguishable scans, as in
  test_renderings);
- the ``world`` file estate's report figures equal the ``plain`` file estate's, with the
  tolerances of test_renderings;
- a clean estate reports no problem of any kind;
- ``chargeline report --json`` over the window prints the figures read here.

SQLite for every case; PostgreSQL for ``world`` (and ``plain``, its figures' reference:
percentiles are compared on one backend, as in test_renderings).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chargeline.cli import app
from core.config import ChargeSla
from metrics.compute.run import compute
from simulator.estate import Estate, build_estate
from simulator.export import DATA_DIRS, ExportSummary, export_estate
from store.engine import make_engine
from store.schema import quarantined_records
from tests.estate import estate_config
from tests.metrics.rendering_check import (
    HTTP_OFF,
    VOLATILE,
    Outcome,
    assert_truth,
    read_outcome,
    store_url,
    swaps,
)
from tests.metrics.test_renderings import _comparable, _dollars, _problems

END = datetime(2026, 11, 20, tzinfo=UTC)
# (seed, fault preset, facilities, window end)
CASES = {
    "s5-high": (5, "high", 2, END),
    "clean": (9, "none", 2, END),
}


def _params(*cases: str) -> list[Any]:
    out = []
    for case in cases:
        for rendering in ("plain", "world"):
            out.append(pytest.param("sqlite", case, rendering, id=f"sqlite-{case}-{rendering}"))
        out.append(pytest.param("postgresql", case, "world", id=f"postgresql-{case}-world"))
    return out


@dataclass(frozen=True)
class Loaded:
    """One exported and ingested estate: its export, store, ingest output and outcome,
    and the positions of the quarantined records."""

    summary: ExportSummary
    url: str
    output: str
    outcome: Outcome
    quarantined: set[str]


def _env(url: str) -> dict[str, str]:
    return {"CHARGELINE_DATABASE_URL": url}


def ingest_export(summary: ExportSummary, url: str) -> str:
    """``chargeline ingest`` of the export's data folders, a ``--mapping`` per override
    file it wrote; the command's output."""
    args = ["ingest"]
    for kind, path in sorted(summary.mappings.items()):
        args += ["--mapping", f"{kind}={path}"]
    args += [str(summary.out / d) for d in DATA_DIRS]
    result = CliRunner().invoke(app, args, env=_env(url))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
           monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Any]:
    """``get(backend, case, rendering) -> Loaded``, each exported and ingested once."""
    estates: dict[str, Estate] = {}
    cache: dict[tuple[str, str, str], Loaded] = {}
    cleanups: list[Iterator[str]] = []

    def get(backend: str, case: str, rendering: str) -> Loaded:
        key = (backend, case, rendering)
        if key in cache:
            return cache[key]
        if case not in estates:
            seed, preset, facilities, end = CASES[case]
            estates[case] = build_estate(estate_config(
                seed=seed, facilities=facilities, faults=preset, end=end, **HTTP_OFF),
                progress=False)
        estate = estates[case]
        summary = export_estate(estate, tmp_path_factory.mktemp(f"export-{case}-{rendering}"),
                                rendering)
        stores = store_url(backend, tmp_path_factory.mktemp("file-store"), sqlite_template)
        cleanups.append(stores)
        url = next(stores)
        output = ingest_export(summary, url)
        truth = json.loads((summary.out / "truth.json").read_text(encoding="utf-8"))
        engine = make_engine(url)
        try:
            compute(engine, ChargeSla(**truth["sla"]), now=_instant(truth["as_of"]))
            outcome = read_outcome(engine, truth, estate)
            with engine.connect() as conn:
                quarantined = set(conn.execute(select(
                    quarantined_records.c.position)).scalars())
        finally:
            engine.dispose()
        cache[key] = Loaded(summary, url, output, outcome, quarantined)
        return cache[key]

    yield get
    for stores in cleanups:
        next(stores, None)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """No config file of the developer's: the ingest reads every kind as 'backfill'."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CHARGELINE_CONFIG", raising=False)
        yield mp


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("backend", "case", "rendering"), _params(*CASES))
def test_a_file_estate_finds_exactly_the_truth(loaded: Any, backend: str, case: str,
                                               rendering: str) -> None:
    got = loaded(backend, case, rendering)
    assert_truth(got.outcome)
    # every malformed HL7 message is quarantined where the rendered log has it, and no
    # other HL7 message is
    assert _tails({p for p in got.quarantined if "/hl7/" in p}) == _malformed_positions(got)
    # a usage is read once whichever way it came
    assert got.outcome.report["network"]["usage_events"] == \
        got.outcome.truth["counts"]["usage_events"]


def _tails(positions: set[str]) -> set[str]:
    """``<channel>/<file>@<offset>`` of quarantined HL7 positions: an ingested log's
    position is the last 64 characters of its path (collectors/ingest.py)."""
    return {"/".join(p.split("/")[-2:]) for p in positions}


def _malformed_positions(got: Loaded) -> set[str]:
    """``<channel>/<file>@<offset>`` of each malformed message of the truth, at its
    offset in the rendered log (rendering.json says where a rendering moved it)."""
    moved: dict[tuple[str, int], int] = {}
    info = got.summary.out / "rendering.json"
    if info.is_file():
        moved = {(m["file"], m["offset"]): m["rendered_offset"] for m in
                 json.loads(info.read_text(encoding="utf-8"))["malformed_hl7_offsets"]}
    return {f"{f['file']}@{moved.get((f['file'], f['offset']), f['offset'])}"
            for f in got.outcome.truth["faults"] if f["kind"] == "malformed_hl7"}


@pytest.mark.parametrize(("backend", "case", "rendering"),
                         [("sqlite", "s5-high", "plain"), ("sqlite", "s5-high", "world")])
def test_nothing_but_malformed_hl7_is_quarantined(loaded: Any, backend: str, case: str,
                                                  rendering: str) -> None:
    got = loaded(backend, case, rendering)
    assert _tails(got.quarantined) == _malformed_positions(got)
    # (billing/ClaimResponse.ndjson holds one line here: read as the one resource it is)
    malformed = sum(f["kind"] == "malformed_hl7" for f in got.outcome.truth["faults"])
    # the data folders were ingested, not the X12 ones (835 remittances, 837 claims)
    ingested = [f for f in got.summary.files if f.parts[0] in DATA_DIRS]
    assert f"quarantined {malformed}, from {len(ingested)} files" in got.output


@pytest.mark.parametrize("name", ["ChargeItem.ndjson", "ChargeItem-export.txt"])
def test_an_ndjson_file_whose_first_resource_is_long_is_read(
        tmp_path: Path, sqlite_template: Path, monkeypatch_module: pytest.MonkeyPatch,
        name: str) -> None:
    # by its name, or (another name) by its first line read whole past the sniffed head
    estate = build_estate(estate_config(seed=7, faults="none", volume_scale=0.05),
                          progress=False)
    col = estate.collections["billing/ChargeItem"]
    resources = [col.render(r) for r in col.visible_records(estate.end_ms)[:3]]
    resources[0]["note"] = [{"text": "x" * 5000}]  # valid R4: a long note on the first line
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    stores = store_url("sqlite", tmp_path, sqlite_template)
    url = next(stores)
    result = CliRunner().invoke(app, ["ingest", str(path)], env=_env(url))
    assert result.exit_code == 0, (result.output, result.exception)
    assert "ingested 3 records (3 new or changed), quarantined 0" in result.output


@pytest.mark.parametrize(("backend", "case"),
                         [("sqlite", "s5-high"), ("sqlite", "clean"),
                          ("postgresql", "s5-high")])
def test_the_world_file_estate_gives_the_plain_file_estates_figures(
        loaded: Any, backend: str, case: str) -> None:
    plain = loaded(backend, case, "plain").outcome
    other = loaded(backend, case, "world").outcome
    kind = "missing_inventory_issue"
    a, b = plain.flagged[kind], other.flagged[kind]
    swapped = a != b
    assert not swapped or swaps(other, a - b, b - a), (sorted(a - b), sorted(b - a))
    assert {k: v for k, v in other.flagged.items() if k != kind} == \
        {k: v for k, v in plain.flagged.items() if k != kind}
    assert _dollars(other, swapped) == _dollars(plain, swapped)
    # world drops issue links: the issue-delay percentiles are exact only with them
    for section in plain.report:
        assert _comparable(other.report[section], True) == \
            _comparable(plain.report[section], True), section


@pytest.mark.parametrize(("backend", "rendering"),
                         [("sqlite", "plain"), ("sqlite", "world"), ("postgresql", "world")])
def test_a_clean_file_estate_reports_no_problem(loaded: Any, backend: str,
                                                rendering: str) -> None:
    outcome = loaded(backend, "clean", rendering).outcome
    assert not outcome.truth["faults"]
    assert all(not keys for keys in outcome.flagged.values()), \
        {k: sorted(v, key=str)[:5] for k, v in outcome.flagged.items() if v}
    problems = _problems(outcome.report)
    assert all(not v for v in problems.values()), problems
    assert outcome.report["network"]["usage_events"] > 100


def test_the_report_command_prints_the_file_estates_figures(loaded: Any) -> None:
    got = loaded("sqlite", "s5-high", "world")
    truth = got.outcome.truth
    result = CliRunner().invoke(app, ["report", "--json", "--since", truth["start"],
                                      "--until", truth["as_of"]], env=_env(got.url))
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(result.output)
    assert {k: v for k, v in doc.items() if k not in VOLATILE} == got.outcome.report
