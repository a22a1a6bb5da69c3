"""``chargeline simulate``: help, one-line errors, files only, and serving until stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "chargeline"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          check=False)


def test_help_lists_the_options(tmp_path: Path) -> None:
    result = _run("simulate", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--seed", "--facilities", "--days", "--port", "--out", "--faults", "--fault",
                   "--volume-scale", "--timeout-fault-seconds", "--live", "--no-serve"):
        assert option in result.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["--facilities", "many"], "--facilities"),
    (["--facilities", "0"], "--facilities"),
    (["--days", "400"], "--days"),
    (["--faults", "extreme"], "fault preset"),
    (["--fault", "http_429"], "KIND=RATE"),
    (["--fault", "lightning=0.1"], "lightning"),
    (["--fault", "http_429=2"], "http_429"),
    (["--volume-scale", "big"], "--volume-scale"),
    (["--end", "yesterday"], "--end"),
])
def test_a_bad_option_is_one_line_without_traceback(tmp_path: Path, args: list[str],
                                                    needle: str) -> None:
    result = _run("simulate", "--no-serve", "--out", str(tmp_path / "x"), *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
    assert not (tmp_path / "x").exists()


def test_no_serve_writes_logs_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    result = _run("simulate", "--no-serve", "--facilities", "2", "--days", "1",
                  "--volume-scale", "0.1", "--end", "2026-11-20", "--out", str(out),
                  "--fault", "malformed_hl7=0.05", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    truth = json.loads((out / "truth.json").read_text())
    assert truth["facilities"] == ["FAC01", "FAC02"] and truth["end"].startswith("2026-11-20")
    assert truth["fault_rates"]["malformed_hl7"] == 0.05
    assert len(list((out / "hl7").rglob("*-20261119.hl7"))) == 4


def test_serves_until_interrupted_then_rewrites_truth(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    with subprocess.Popen([*CLI, "simulate", "--port", "0", "--facilities", "1", "--days", "1",
                           "--volume-scale", "0.1", "--out", str(out), "--fault", "http_5xx=1"],
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        try:
            _check_serving(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    served = json.loads((out / "truth.json").read_text())["http_faults"]
    assert [(f["kind"], f["path"]) for f in served] == [("http_5xx", "/engine/api/channels")]


def _check_serving(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None and proc.stderr is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(("serving", "live mode")):
            break
    printed = "".join(lines)
    base = next(line for line in lines if line.startswith("base URL:")).split()[-1]
    assert httpx.get(f"{base}/health", timeout=10).text == "ok"
    assert httpx.get(f"{base}/engine/api/channels", timeout=10).status_code >= 500
    assert json.loads((Path(lines[2].split()[-1])).read_text())["http_faults"] == []
    for path in ("/billing/fhir", "/ehr/fhir", "/erp/odata", "/engine/api/channels"):
        assert f"{base}{path}" in printed
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert "stopped" in proc.stdout.read()
