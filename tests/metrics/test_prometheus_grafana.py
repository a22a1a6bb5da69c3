"""The Grafana dashboard (docs/grafana/chargeline.json) is one Grafana imports and that
reads what ``/metrics`` exposes: the keys Grafana requires (a JSON schema), panels on a
24-column grid with unique ids, every query on the dashboard's Prometheus variable and
naming only metric families and labels Chargeline exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from metrics.read.prometheus import metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "chargeline.json"
LABELS = {"facility", "channel", "status", "source", "endpoint", "state", "level", "ack"}
PANEL_TYPES = {"row", "stat", "timeseries", "bargauge", "table", "gauge"}
_DATASOURCE = {"type": "object", "required": ["type", "uid"],
               "properties": {"type": {"const": "prometheus"},
                              "uid": {"const": "${datasource}"}}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "version", "panels", "templating", "time",
                 "annotations", "editable"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "version": {"type": "integer"},
        "time": {"type": "object", "required": ["from", "to"]},
        "annotations": {"type": "object", "required": ["list"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {
            "type": "array", "items": {"type": "object", "required": ["name", "type"]}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"enum": sorted(PANEL_TYPES)},
                "title": {"type": "string", "minLength": 1},
                "gridPos": {"type": "object", "required": ["x", "y", "w", "h"],
                            "properties": {k: {"type": "integer", "minimum": 0}
                                           for k in ("x", "y", "w", "h")}},
                "datasource": _DATASOURCE,
                "targets": {"type": "array", "items": {
                    "type": "object", "required": ["refId", "expr"],
                    "properties": {"refId": {"type": "string", "minLength": 1},
                                   "expr": {"type": "string", "minLength": 1},
                                   "datasource": _DATASOURCE}}},
                "fieldConfig": {"type": "object", "required": ["defaults", "overrides"]},
            },
            "if": {"properties": {"type": {"not": {"const": "row"}}}},
            "then": {"required": ["datasource", "targets", "fieldConfig"],
                     "properties": {"targets": {"minItems": 1}}},
        }},
    },
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_the_dashboard_has_the_keys_grafana_requires(dashboard: dict[str, Any]) -> None:
    jsonschema.validate(dashboard, SCHEMA)


def test_panels_sit_on_the_grid_with_unique_ids(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["w"] >= 1 and pos["h"] >= 1 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(set(refs)) == len(refs)


def test_queries_name_only_what_metrics_exposes(dashboard: dict[str, Any]) -> None:
    exposed = metric_names()
    used: set[str] = set()
    for expr in _queries(dashboard):
        names = set(re.findall(r"\bchargeline_[a-z0-9_]+", expr))
        assert names, expr
        assert names <= exposed, f"{expr}: unknown {sorted(names - exposed)}"
        used |= names
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            assert {g.strip() for g in group.split(",")} <= LABELS, expr
        for matcher in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"", expr):
            assert matcher in LABELS, expr
        assert expr.count("(") == expr.count(")"), expr
    legends = [t.get("legendFormat", "") for p in dashboard["panels"]
               for t in p.get("targets", [])]
    assert {m for legend in legends for m in re.findall(r"\{\{(\w+)\}\}", legend)} <= LABELS
    # the headline of each of the three uses is on it
    assert {"chargeline_charge_capture_percent", "chargeline_revenue_at_risk_dollars",
            "chargeline_duplicate_charge_dollars", "chargeline_channel_queue_depth",
            "chargeline_api_p95_milliseconds", "chargeline_source_last_success_"
            "timestamp_seconds", "chargeline_alerts"} <= used


def test_every_query_reads_the_dashboards_prometheus_variable(dashboard: dict[str, Any]
                                                              ) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for expr in _queries(dashboard):
        for name in re.findall(r"\$(\w+)", expr):
            assert name in variables, expr
