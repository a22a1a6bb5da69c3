"""``chargeline report`` (text and JSON), ``metrics compute`` and ``trace`` on a real store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from chargeline.cli import app
from core.errors import ChargelineError, ConfigError
from metrics.cli import parse_instant, parse_window, store_label
from metrics.report import to_text
from store.upsert import upsert_records
from tests.metrics.factories import T0, master_data, trap_estate

JANUARY = datetime(2024, 1, 10, 8, 0, tzinfo=UTC)  # a backfilled estate's T0


def moved(records: list[Any], delta: timedelta) -> list[Any]:
    """The records with every time and date moved by ``delta`` (whole days)."""
    out = []
    for record in records:
        data = record.model_dump()
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value + delta
            elif isinstance(value, date):
                data[key] = value + timedelta(days=delta.days)
        out.append(type(record).model_validate(data))
    return out


@pytest.fixture
def cli(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    with engine.begin() as conn:
        upsert_records(conn, master_data() + trap_estate(), source="test",
                       now=T0 + timedelta(days=1))
    return _invoker(store_url)


@pytest.fixture
def january_cli(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch):
    """A store holding the trap estate as a January 2024 backfill, ingested today."""
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    with engine.begin() as conn:
        upsert_records(conn, master_data() + moved(trap_estate(), JANUARY - T0),
                       source="backfill")
    return _invoker(store_url)


def _invoker(store_url: str):  # type: ignore[no-untyped-def]
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
        "late_usd": 1250.0, "revenue_at_risk_usd": 1570.0, "billed_usd": 6395.0,
        "late_usd_pct": pytest.approx(100 * 1250 / 6395, abs=1e-4),
        "charge_lag_days": {"mean": round(297 / 13 / 1440, 4), "p90": round(10 / 1440, 4)}}
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


def test_parse_instant() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_instant("7d", now) == now - timedelta(days=7)
    assert parse_instant("90m", now) == now - timedelta(minutes=90)
    assert parse_instant("2026-11-18", now) == datetime(2026, 11, 18, tzinfo=UTC)
    assert parse_instant("2026-11-18T06:00Z", now) == datetime(2026, 11, 18, 6, tzinfo=UTC)
    assert parse_instant("2026-11-18 06:00", now) == datetime(2026, 11, 18, 6, tzinfo=UTC)
    assert parse_instant("2026-11-18T07:00+01:00", now) == datetime(2026, 11, 18, 6,
                                                                    tzinfo=UTC)
    with pytest.raises(ConfigError, match="--until 'yesterday' is not understood"):
        parse_instant("yesterday", now, "--until")


def test_parse_window() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_window("2024-01-01", "2024-01-20", now) == (
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC))
    assert parse_window("7d", "", now) == (now - timedelta(days=7), now)
    assert parse_window("48h", "24h", now) == (now - timedelta(hours=48),
                                               now - timedelta(hours=24))
    with pytest.raises(ConfigError, match=r"--since '2024-01-20' \(2024-01-20 00:00 UTC\) "
                                          r"is not before --until '2024-01-01'"):
        parse_window("2024-01-20", "2024-01-01", now)
    with pytest.raises(ConfigError, match="is not before --until 'now'"):
        parse_window("2027-01-01", "", now)
    with pytest.raises(ConfigError, match="is not before"):
        parse_window("2024-01-01", "2024-01-01", now)  # an empty window


def test_store_label_masks_the_password() -> None:
    assert store_label("postgresql+psycopg://chargeline:s3cret@db.example:5432/cl") == (
        "postgresql+psycopg://chargeline:***@db.example:5432/cl")
    assert store_label("sqlite:///./data/chargeline.db") == "sqlite:///./data/chargeline.db"


def test_report_over_a_january_backfill(january_cli, store_url: str) -> None:
    january_cli("metrics", "compute")
    doc = json.loads(january_cli("report", "--json", "--since", "2024-01-01",
                                 "--until", "2024-01-20"))
    assert (doc["since"], doc["until"]) == ("2024-01-01T00:00:00+00:00",
                                            "2024-01-20T00:00:00+00:00")
    assert doc["empty_window"] is False
    # the same figures as the estate gives in its own week (test_report_json_and_text)
    net = doc["network"]
    assert (net["charge_capture"]["capture_pct"], net["charge_capture"]["due"],
            net["charge_capture"]["missing"]) == (75.0, 16, 1)
    assert net["duplicates"] == {"groups": 2, "extra_units": 2.0, "overcharge_usd": 2500.0}
    assert net["latency_minutes"]["charge"]["p95"] == 200.0
    assert doc["facilities"]["FAC01"]["usage_events"] == 17
    assert doc["channels"]["FAC01/FAC01_CHG_OUT"]["messages_received"] == 3
    assert doc["data_span"] == {
        "usage_events": {"first": "2024-01-10T08:00:00+00:00",
                         "last": "2024-01-10T11:40:00+00:00"},
        "messages": {"first": "2024-01-10T08:01:00+00:00",
                     "last": "2024-01-10T11:21:00+00:00"},
        "charges": {"first": "2024-01-10T08:10:00+00:00",
                    "last": "2024-01-11T17:20:00+00:00"}}
    assert doc["suggested_window"] == {"since": "2024-01-10", "until": "2024-01-12"}
    # until is left out: a window ending at the first scan's minute holds no usage
    before = json.loads(january_cli("report", "--json", "--since", "2024-01-01",
                                    "--until", "2024-01-10T08:00Z"))
    assert before["empty_window"] is True
    text = january_cli("report", "--since", "2024-01-01", "--until", "2024-01-20")
    assert f"store: {store_label(store_url)}" in text.splitlines()[1]
    assert "Charge capture     75 %  (12 of 16 due charged within SLA" in text


def test_report_over_an_empty_window_names_the_span(january_cli) -> None:
    january_cli("metrics", "compute")
    doc = json.loads(january_cli("report", "--json", "--since", "7d"))
    assert doc["empty_window"] is True
    assert doc["data_span"]["usage_events"]["first"] == "2024-01-10T08:00:00+00:00"
    assert doc["suggested_window"] == {"since": "2024-01-10", "until": "2024-01-12"}
    assert doc["network"]["usage_events"] == 0  # the figures keep their shape for scripts
    text = january_cli("report", "--since", "2024-02-01", "--until", "2024-03-01")
    assert "No usage events, messages or charges in this window" in text
    assert "usage events   2024-01-10T08:00:00+00:00 .. 2024-01-10T11:40:00+00:00" in text
    assert "charges        2024-01-10T08:10:00+00:00 .. 2024-01-11T17:20:00+00:00" in text
    assert text.rstrip().endswith("Try: chargeline report --since 2024-01-10 --until 2024-01-12")
    assert "Charge capture" not in text and "NETWORK" not in text
    other = january_cli("report", "--since", "2024-01-01", "--facility", "FAC99")
    assert "No usage events, messages or charges for facility FAC99 yet" not in other
    assert "The store holds no usage events, messages or charges for facility FAC99 yet" in other


def test_empty_store_report_says_to_collect_first() -> None:
    doc: dict[str, Any] = {
        "since": "2024-01-01T00:00:00+00:00", "until": "2024-01-20T00:00:00+00:00",
        "computed_at": None, "facility": None, "empty_window": True,
        "data_span": {k: {"first": None, "last": None}
                      for k in ("usage_events", "messages", "charges")},
        "suggested_window": None}
    text = to_text(doc, store="sqlite:///x.db")
    assert text.splitlines()[1:] == [
        "store: sqlite:///x.db", "",
        "The store holds no usage events, messages or charges yet: collect (`chargeline "
        "collect --once`) or backfill (`chargeline ingest`) first."]


def test_an_empty_store_beside_a_demo_says_where_the_demos_store_is(
        store_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make demo` keeps its own store under data/demo; `chargeline report` from the
    # repository root opens the default, empty one and says where the demo's is
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "chargeline.yaml").write_text("sources: []\n")
    out = _invoker(store_url)("report")
    assert "The store holds no usage events" in out
    assert out.rstrip().endswith("CHARGELINE_CONFIG=data/demo/chargeline.yaml chargeline report")
