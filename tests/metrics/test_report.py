"""``chargeline report`` (text and JSON), ``metrics compute`` and ``trace`` on a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import metrics.cli  # noqa: F401 - registers report, metrics and trace
from chargeline.cli import app
from chargeline.errors import ChargelineError, ConfigError
from metrics.cli import parse_since
from store.upsert import upsert_records
from tests.metrics.factories import T0, master_data, trap_estate


@pytest.fixture
def cli(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    with engine.begin() as conn:
        upsert_records(conn, master_data() + trap_estate(), source="test",
                       now=T0 + timedelta(days=1))
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args), env={"CHARGELINE_DATABASE_URL": store_url})
        if isinstance(result.exception, ChargelineError):
            raise result.exception
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_report_json_and_text(cli) -> None:
    assert cli("metrics", "compute").startswith("metrics computed (full)")
    doc = json.loads(cli("report", "--json", "--since", "2026-11-17"))
    assert (doc["report"], doc["version"], doc["facility"]) == ("chargeline-metrics", 2, None)
    net = doc["network"]
    assert net["charge_capture"] == {
        "capture_pct": 75.0, "due": 16, "on_time": 12, "late": 1, "missing": 1, "pending": 0,
        "unmapped": 2, "within_sla_pct": pytest.approx(92.3077), "revenue_leakage_usd": 1250.0,
        "late_usd": 1250.0, "revenue_at_risk_usd": 1570.0}
    assert net["failed_mappings"]["no_crosswalk"] == {"count": 1, "usd": 300.0}
    assert net["duplicates"] == {"groups": 2, "extra_units": 2.0, "overcharge_usd": 2500.0}
    assert net["inventory"]["missing_issues"] == 1
    assert net["latency_minutes"]["charge"]["p95"] == 200.0
    assert doc["facilities"]["FAC01"]["usage_events"] == 17
    assert doc["exceptions"]["missing_charge"] == {"open": 1, "usd": 1250.0}
    assert doc["channels"]["FAC01/FAC01_CHG_OUT"]["messages_received"] == 3
    assert doc["channels"]["FAC01/FAC01_CHG_OUT"]["facility"] == "FAC01"
    text = cli("report", "--since", "2026-11-17", "--facility", "FAC01")
    assert "FACILITY FAC01  (17 usage events)" in text and "NETWORK" not in text
    assert "Charge capture     75 %  (12 of 16 due charged within SLA" in text
    assert "missing_charge" in text


def test_report_refuses_a_bad_window(cli) -> None:
    with pytest.raises(ConfigError, match="is not understood"):
        cli("report", "--since", "last tuesday")


def test_trace_command(cli) -> None:
    cli("metrics", "compute")
    out = cli("trace", "u16")
    assert "usage u16  encounter ENC2" in out and "via control_id" in out
    assert json.loads(cli("trace", "c16", "--json"))["kind"] == "charge"
    with pytest.raises(ConfigError, match="not a known usage"):
        cli("trace", "nope")


def test_parse_since() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2026-11-18", now) == datetime(2026, 11, 18, tzinfo=UTC)
    assert parse_since("2026-11-18T06:00Z", now) == datetime(2026, 11, 18, 6, tzinfo=UTC)
