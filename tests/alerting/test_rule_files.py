"""A broken rule file in the live folder never turns alerting off: the last good rule set
runs (kept in the store, so a restart has it), the refusal is an alert in the error state
naming the file and line, ``alerts evaluate`` exits non-zero, and ``rules check`` reads
the live folder by default, refusing a folder without rule files and a set of no rules."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting import service
from alerting.data.instances import load_states
from alerting.service import RULE_FILES_ID, evaluate_and_notify
from chargeline.cli import app
from core.config import load_settings
from core.errors import RuleFileError
from rules.loader import RuleRegistry, load_rules
from tests.alerting.factories import T0, TableReader, value
from tests.rules.test_loader import GOOD

ROOT = Path(__file__).resolve().parents[2]
RULE = GOOD.replace("nack_rate\n", "nack_rate_pct\n")
BROKEN = RULE.replace("    window: 1h\n", "    window: 1 hour\n")  # line 6
READER = TableReader({"nack_rate_pct": [
    value("nack_rate_pct", {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}, 9.0)]})


@pytest.fixture
def restart(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A new process: nothing loaded in memory."""
    def fresh() -> None:
        monkeypatch.setattr(service, "REGISTRY", RuleRegistry())
    fresh()
    return fresh


def test_a_restart_with_a_broken_rule_file_runs_the_last_good_set_and_alerts(
        engine, store_url: str, tmp_path: Path, restart) -> None:
    live = tmp_path / "rules"
    live.mkdir()
    site = live / "site.yaml"
    site.write_text(RULE)
    settings = load_settings(database_url=store_url, data_dir=tmp_path)
    first = evaluate_and_notify(engine, settings, READER, T0)
    assert first.rule_file_problems == [] and first.evaluated == 1
    assert first.rules_in_force == f"1 rules from 1 file(s): {site} (1)"

    site.write_text(BROKEN)
    restart()
    later = T0 + timedelta(minutes=5)
    report = evaluate_and_notify(engine, settings, READER, later)  # no RuleFileError
    assert report.rules_in_force == f"1 rules from 1 file(s): {site} (1)"
    assert [p.split(" — ")[0] for p in report.rule_file_problems] == [
        f"{site}:6: rules[0].window"]
    with engine.connect() as conn:
        states = load_states(conn)
    nack = states["nack-rate|channel=FAC01_CHG_OUT,facility=FAC01"]
    assert nack.evaluated_at == later  # still evaluated: alerting did not stop
    files = states[f"{RULE_FILES_ID}|"]
    assert files.state.value == "error"
    assert f"{site}:6: rules[0].window" in files.error

    site.write_text(RULE)
    evaluate_and_notify(engine, settings, READER, later + timedelta(minutes=5))
    with engine.connect() as conn:
        assert load_states(conn)[f"{RULE_FILES_ID}|"].state.value == "ok"


def test_with_no_good_set_ever_stored_a_broken_file_is_refused_loudly(
        engine, store_url: str, tmp_path: Path, restart) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "site.yaml").write_text(BROKEN)
    settings = load_settings(database_url=store_url, data_dir=tmp_path)
    with pytest.raises(RuleFileError):
        evaluate_and_notify(engine, settings, READER, T0)


def test_alerts_evaluate_exits_non_zero_on_a_refused_rule_file(
        engine, store_url: str, tmp_path: Path, restart) -> None:
    (tmp_path / "rules").mkdir()
    site = tmp_path / "rules" / "site.yaml"
    site.write_text(RULE)
    env = {"CHARGELINE_DATABASE_URL": store_url, "CHARGELINE_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    ok = runner.invoke(app, ["alerts", "evaluate"], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"rules in force: 1 rules from 1 file(s): {site} (1)" in ok.output
    site.write_text(BROKEN)
    restart()
    refused = runner.invoke(app, ["alerts", "evaluate"], env=env)
    assert refused.exit_code == RuleFileError.exit_code, refused.output
    assert f"{site}:6:" in refused.output


def test_a_lone_empty_rule_file_is_refused_not_an_empty_rule_set(tmp_path: Path) -> None:
    (tmp_path / "off.yaml").write_text("rules: []\n")
    with pytest.raises(RuleFileError, match=r"no rule in .*off.yaml: alerting would be off"):
        load_rules([tmp_path])


def _chargeline(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    env["CHARGELINE_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "chargeline", *args], capture_output=True,
                          text=True, env=env, cwd=data_dir, timeout=120)


def test_rules_check_reads_the_live_folder_and_refuses_a_folder_without_rules(
        tmp_path: Path) -> None:
    pack = _chargeline("rules", "check", data_dir=tmp_path)  # no live folder: the pack
    assert pack.returncode == 0 and "rules/pack" in pack.stdout, pack.stderr
    (tmp_path / "rules").mkdir()
    site = tmp_path / "rules" / "site.yaml"
    site.write_text(BROKEN)
    live = _chargeline("rules", "check", data_dir=tmp_path)
    assert live.returncode == 5 and f"{site}:6:" in live.stderr, live.stdout
    listed = _chargeline("rules", "list", data_dir=tmp_path)
    assert listed.returncode == 5 and f"{site}:6:" in listed.stderr
    empty = _chargeline("rules", "check", str(ROOT / "rules"), data_dir=tmp_path)
    assert empty.returncode == 5
    assert "holds no rule file" in empty.stderr and "rules/pack" in empty.stderr
    assert not (tmp_path / "phi-secret").exists()  # checking rules needs no secret
