"""Configuration errors name the key and the fix, as one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    # a deployment's own secret: without one a first run says it generated one, and the
    # demo value is announced as public (core.keys), each a line of its own
    full_env["CHARGELINE_PHI_SECRET"] = "a-test-deployment-secret"
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", "from chargeline.cli import main; main()", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60,
    )


def test_example_config_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGELINE_CONFIG", str(ROOT / "chargeline.example.yaml"))
    settings = load_settings()
    assert [s.name for s in settings.sources] == [
        "billing", "erp", "ehr-usage", "engine-logs", "engine-stats"
    ]
    assert settings.source("erp").schedule.cron == "*/5 * * * *"
    assert settings.smtp.security == "starttls"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CHARGELINE_SMTP__PORT": "abc"}, "config smtp.port (CHARGELINE_SMTP__PORT)"),
        ({"CHARGELINE_DATABASE_URL": "mysql://root@localhost/x"}, "driver 'mysql'"),
        ({"CHARGELINE_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"CHARGELINE_SMTP__SECURITY": "tls"}, "e.g. security: starttls"),
    ],
)
def test_bad_environment_value_names_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value)


def test_config_file_errors_name_file_and_line(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "chargeline.yaml"
    bad.write_text("sla:\n  implant_charge_minutes: 120\n   bad_indent: [\n")
    monkeypatch.setenv("CHARGELINE_CONFIG", str(bad))
    with pytest.raises(ConfigError, match=r"chargeline\.yaml:\d+: YAML syntax error"):
        load_settings()


def test_bad_schedule_in_file_is_explained(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "sources:\n  - name: erp\n    kind: odata_erp\n    base_url: http://x\n"
        "    schedule: {cron: '* *'}\n"
    )
    monkeypatch.setenv("CHARGELINE_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"sources\.0\.schedule.*must have 5 fields"):
        load_settings()


def test_cli_bad_config_value_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = _run_cli("db", "upgrade", env={"CHARGELINE_SMTP__PORT": "abc"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "smtp.port" in lines[0], result.stderr


def test_cli_bad_database_url_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = _run_cli(
        "db", "upgrade",
        env={"CHARGELINE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot open the store" in lines[0], result.stderr
    assert "CHARGELINE_DATABASE_URL" in lines[0]


def test_cli_db_upgrade_creates_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'c.db'}"
    result = _run_cli("db", "upgrade", env={"CHARGELINE_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "store at revision" in result.stdout
    assert (tmp_path / "data" / "c.db").is_file()
