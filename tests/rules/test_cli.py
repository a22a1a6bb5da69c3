"""``chargeline rules check PATH...`` through the real command: every problem on stderr as
``file:line: ...``, exit code 5, and the store never opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.rules.test_loader import GOOD

ROOT = Path(__file__).resolve().parents[2]


def _chargeline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    # a store that must stay untouched: checking rules never opens it
    env["CHARGELINE_DATABASE_URL"] = f"sqlite:///{cwd / 'store' / 'must-not-exist.db'}"
    return subprocess.run([sys.executable, "-c", "from chargeline.cli import main; main()",
                           *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_check_the_shipped_pack_and_a_bad_file(tmp_path: Path) -> None:
    ok = _chargeline("rules", "check", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ") and "rules in 4 file(s)" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("metric: nack_rate\n", "metric: nack_rates\n")
                   .replace("    window: 1h\n", "    window: 1 hour\n    colour: red\n"),
                   encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("nack_rate\n", "nack_rate_pct\n"), encoding="utf-8")
    refused = _chargeline("rules", "check", str(good), str(bad), cwd=tmp_path)
    assert refused.returncode == 5
    lines = refused.stderr.splitlines()
    assert lines[:4] == [
        f"{bad}:2: rules[0].id — duplicate rule id 'nack-rate', first defined at {good}:2 — "
        "give it another id, e.g. id: nack-rate-2",
        f"{bad}:4: rules[0].metric — unknown metric 'nack_rates' — e.g. metric: nack_rate_pct",
        f"{bad}:6: rules[0].window — '1 hour' is not a duration; write it like 15m, 2h or 1d "
        "— e.g. window: 1h",
        f"{bad}:7: rules[0].colour — unknown key 'colour' — remove it; allowed here: id, name, "
        "metric, parameters, scope, window, direction, warn, fail, pending, keep_firing, "
        "owner, stewards, severity, tags, description, runbook, unit, hours",
    ]
    assert lines[4:] == ["4 problem(s); no rule file was loaded"]
    assert not (tmp_path / "store").exists()
