"""The collector commands take what they need from other packages through ``ctx.obj``.

``collectors.cli.cli`` is the package's own Typer: with a ``CollectorWiring`` in
``ctx.obj`` (the entry room's), ``collect`` reports every run to ``run_finished`` and runs
the pipeline's ``after_pass`` after a pass that wrote rows; ``--no-pipeline`` keeps the
run reports and skips the pipeline; with no wiring it collects only. A failing
``run_finished`` never fails the collector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from collectors.cli import cli
from collectors.hooks import CollectorWiring, ExtraJob, Hook, MetricsExposition
from core.config import Settings
from tests.collectors import payloads as p


class FakeWiring:
    """Records what the commands asked of it."""

    def __init__(self, fail_run_finished: bool = False) -> None:
        self.fail_run_finished = fail_run_finished
        self.runs: list[str] = []
        self.after_passes = 0
        self.hooks_asked = 0

    def pass_hooks(self, settings: Settings, engine: Engine) -> tuple[Hook, list[ExtraJob]]:
        self.hooks_asked += 1

        def after_pass() -> None:
            self.after_passes += 1

        return after_pass, []

    def run_finished(self, settings: Settings, engine: Engine, run_id: str) -> None:
        self.runs.append(run_id)
        if self.fail_run_finished:
            raise RuntimeError("lineage endpoint down")

    def serve_metrics(self, settings: Settings, engine: Engine) -> MetricsExposition:
        raise AssertionError("collect never serves /metrics")


def _estate(tmp_path: Path) -> dict[str, str]:
    logs = tmp_path / "logs" / "DFT_OUT"
    logs.mkdir(parents=True)
    (logs / "DFT_OUT-20261118.hl7").write_bytes(
        b"".join(p.dft(n).encode() + b"\n" for n in range(1, 4)))
    config = {"database_url": f"sqlite:///{tmp_path / 'store.db'}",
              "sources": [{"name": "logs", "kind": "hl7_log", "path": str(tmp_path / "logs")}]}
    (tmp_path / "chargeline.yaml").write_text(yaml.safe_dump(config))
    return {"CHARGELINE_CONFIG": str(tmp_path / "chargeline.yaml")}


def test_the_fake_wiring_satisfies_the_protocol() -> None:
    assert isinstance(FakeWiring(), CollectorWiring)


@pytest.mark.parametrize("pipeline", [True, False])
def test_collect_reports_runs_and_runs_the_pipeline_through_the_wiring(
        tmp_path: Path, pipeline: bool) -> None:
    env, wiring = _estate(tmp_path), FakeWiring()
    args = ["collect"] + ([] if pipeline else ["--no-pipeline"])
    result = CliRunner().invoke(cli, args, env=env, obj=wiring)
    assert result.exit_code == 0, result.output
    assert "logs: ok, 3 records read" in result.output
    assert len(wiring.runs) == 1 and isinstance(wiring.runs[0], str)
    assert (wiring.hooks_asked, wiring.after_passes) == ((1, 1) if pipeline else (0, 0))
    # a second pass writes nothing: the run is reported, the pipeline not run again
    result = CliRunner().invoke(cli, args, env=env, obj=wiring)
    assert "logs: nodata" in result.output
    assert len(wiring.runs) == 2 and wiring.after_passes == (1 if pipeline else 0)


def test_collect_without_wiring_collects_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["collect"], env=_estate(tmp_path))
    assert result.exit_code == 0, result.output
    assert "logs: ok, 3 records read, 3 new or changed, 0 quarantined" in result.output


def test_a_failing_run_report_never_fails_the_collector(
        tmp_path: Path, caplog: Any) -> None:
    wiring = FakeWiring(fail_run_finished=True)
    result = CliRunner().invoke(cli, ["collect"], env=_estate(tmp_path), obj=wiring)
    assert result.exit_code == 0, result.output
    assert "logs: ok" in result.output and len(wiring.runs) == 1
    assert "after-run hook failed" in caplog.text
