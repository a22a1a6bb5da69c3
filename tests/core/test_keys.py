"""The deployment secret and its keys: never the public demo value unless asked for (and
then said loudly), generated once into the data directory when none is configured,
tokens stable for a given secret, and a session key of its own."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core import keys
from core.config import Settings, load_settings
from core.keys import (
    DEMO_PHI_SECRET,
    deployment_secret,
    patient_token_key,
    secret_file,
    session_key,
)
from core.phi import patient_token
from store.engine import make_engine
from store.schema import interface_messages
from tests.collectors import payloads as p

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_warned", set())


def test_the_token_key_is_the_secret_itself_so_existing_tokens_stay_the_same() -> None:
    settings = Settings(phi_secret="site-secret-one")
    assert patient_token_key(settings) == "site-secret-one"
    assert patient_token(patient_token_key(settings), "MRN0012345", "FAC01") == \
        patient_token("site-secret-one", "MRN0012345", "FAC01")


def test_the_session_key_differs_from_the_token_key_and_from_other_secrets() -> None:
    one, two = Settings(phi_secret="site-secret-one"), Settings(phi_secret="site-secret-two")
    assert len(session_key(one)) == 32
    assert session_key(one) == session_key(Settings(phi_secret="site-secret-one"))
    assert session_key(one) != patient_token_key(one).encode()
    assert session_key(one) != session_key(two)


def test_the_demo_value_works_and_is_logged_as_public(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    with caplog.at_level(logging.WARNING, logger="chargeline.keys"):
        assert deployment_secret(Settings(phi_secret=DEMO_PHI_SECRET)) == DEMO_PHI_SECRET
        deployment_secret(Settings(phi_secret=DEMO_PHI_SECRET))
    warnings = [r.getMessage() for r in caplog.records if "PUBLIC DEMO VALUE" in r.getMessage()]
    assert len(warnings) == 1  # once a process, not once a token


def test_without_a_secret_one_is_generated_once_into_the_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CHARGELINE_PHI_SECRET", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.phi_secret is None
    with caplog.at_level(logging.WARNING, logger="chargeline.keys"):
        secret = deployment_secret(settings)
    path = secret_file(settings)
    assert path == tmp_path / "data" / "phi-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == secret and len(secret) >= 40
    assert secret != DEMO_PHI_SECRET
    assert f"generated a deployment secret into {path}" in caplog.text
    # later processes read it back: tokens stay the same across restarts
    assert deployment_secret(Settings(data_dir=tmp_path / "data")) == secret
    loaded = load_settings(data_dir=tmp_path / "data")
    assert loaded.phi_secret is not None and loaded.phi_secret.get_secret_value() == secret
    assert [p.name for p in path.parent.iterdir()] == ["phi-secret"]  # no temporary left


def test_processes_starting_together_agree_on_one_generated_secret(tmp_path: Path) -> None:
    settings = Settings(phi_secret=None, data_dir=tmp_path)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(deployment_secret(settings)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert secret_file(settings).read_text().strip() == seen[0]


def test_an_empty_secret_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "phi-secret").write_text("\n")
    with pytest.raises(Exception, match="is empty — restore it from a backup"):
        deployment_secret(Settings(phi_secret=None, data_dir=tmp_path))


def test_a_collector_started_without_a_secret_generates_one_and_tokenises_with_it(
        store_url: str, tmp_path: Path) -> None:
    logs = tmp_path / "hl7"
    logs.mkdir()
    (logs / "FAC01_CHG_OUT-20261118.hl7").write_text(p.dft(1) + "\n" + p.ack(1) + "\n")
    data = tmp_path / "data"
    config = tmp_path / "chargeline.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": store_url, "data_dir": str(data),
        "sources": [{"name": "engine-logs", "kind": "hl7_log", "path": str(logs)}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    env["CHARGELINE_CONFIG"] = str(config)
    done = subprocess.run([sys.executable, "-m", "chargeline", "collect", "--once",
                           "--no-pipeline"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    secret_path = data / "phi-secret"
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert "generated a deployment secret into" in done.stderr
    assert "PUBLIC DEMO VALUE" not in done.stderr
    secret = secret_path.read_text().strip()
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            token = conn.execute(select(interface_messages.c.patient_token)).scalar_one()
    finally:
        engine.dispose()
    assert token == patient_token(secret, "MRN0012345", "FAC01")
    assert token != patient_token(DEMO_PHI_SECRET, "MRN0012345", "FAC01")
