"""The entry room assembles the program: ``chargeline collect`` from the root command gets
the real wiring, so one pass stores its run, sends the run's OpenLineage events,
recomputes the metrics and evaluates the rules — the collectors import none of those."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import func, select

from chargeline.cli import app
from chargeline.wiring import WIRING
from collectors.hooks import CollectorWiring
from store.engine import make_engine
from store.schema import collector_runs
from store.schema_alerting import alert_evaluations
from store.schema_metrics import metric_state
from tests.collectors import payloads as p


def test_the_root_hands_the_collector_commands_the_real_wiring() -> None:
    assert isinstance(WIRING, CollectorWiring)
    assert app.registered_callback is not None  # the callback that sets ctx.obj
    commands = {c.name for group in app.registered_groups for c in
                group.typer_instance.registered_commands}
    assert {"simulate", "collect", "collector", "ingest", "report", "trace", "dashboard",
            "demo"} <= commands


def test_collect_from_the_root_runs_lineage_metrics_and_rules(store_url: str,
                                                              tmp_path: Path) -> None:
    logs = tmp_path / "hl7"
    logs.mkdir()
    (logs / "FAC01_CHG_OUT-20261118.hl7").write_text(p.dft(1) + "\n" + p.ack(1) + "\n")
    events = tmp_path / "openlineage.ndjson"
    config = tmp_path / "chargeline.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": store_url, "data_dir": str(tmp_path / "data"),
        "lineage": {"transport": "file", "path": str(events)},
        "sources": [{"name": "engine-logs", "kind": "hl7_log", "path": str(logs)}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    env.update(CHARGELINE_CONFIG=str(config), CHARGELINE_PHI_SECRET="entry-test-secret")
    done = subprocess.run([sys.executable, "-m", "chargeline", "collect"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "engine-logs: ok" in done.stdout
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            run_id = conn.execute(select(collector_runs.c.run_id)).scalar_one()
            computed = conn.execute(select(func.count()).select_from(metric_state)).scalar()
            evaluated = conn.execute(select(func.count())
                                     .select_from(alert_evaluations)).scalar()
    finally:
        engine.dispose()
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["eventType"], e["run"]["runId"]) for e in sent] == [
        ("START", run_id), ("COMPLETE", run_id)]
    assert computed and evaluated == 1  # the pipeline ran once after the pass
