"""The report's SOURCES section: a source that never succeeded says "never", not the
minutes since its first failed run dressed as a last success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from core.config import ChargeSla
from metrics.read.report_data import build_report
from metrics.report import to_text
from store.schema import collector_runs

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def _run(source: str, status: str, started: datetime, error: str = "") -> dict:
    return {"run_id": f"{source}-{started:%H%M%S}", "source": source, "started_at": started,
            "finished_at": started + timedelta(seconds=30), "status": status,
            "error_class": "HTTPStatusError" if error else "", "error": error}


def test_a_source_that_never_succeeded_reports_never(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(collector_runs), [
            _run("billing", "error", NOW - timedelta(minutes=1), "billing: HTTP 503"),
            _run("billing", "error", NOW - timedelta(seconds=40), "billing: HTTP 503"),
            _run("erp", "ok", NOW - timedelta(minutes=12)),
        ])
    doc = build_report(engine, ChargeSla(), since=NOW - timedelta(days=1), until=NOW)
    assert doc["sources"]["billing"]["never_succeeded"] is True
    assert doc["sources"]["erp"]["never_succeeded"] is False
    # a store of runs alone has no usage in the window; render its sources all the same
    text = to_text({**doc, "empty_window": False})
    lines = {line.split()[0]: line for line in text.splitlines()
             if line.startswith("  ") and line.split()[0] in ("billing", "erp")}
    assert "last success never," in lines["billing"], lines["billing"]
    assert "min ago" not in lines["billing"]
    assert "last success 11.5 min ago" in lines["erp"], lines["erp"]
