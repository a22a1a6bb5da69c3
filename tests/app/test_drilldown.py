"""The drill-down: deep links through query parameters, server-side paging, CSV."""

from __future__ import annotations

import re

from app.data import records
from app.shaping.drill import DrillFilters
from tests.app.conftest import links, signed_in


def _open(role: str, **params: str | list[str]):
    """The drill-down as a link opens it: its URL path and parameters on the first run of
    a session (before any run, AppTest names the page by file, which is its URL path)."""
    at = signed_in(role)
    for key, value in params.items():
        at.query_params[key] = value if isinstance(value, list) else [value]
    at.switch_page("views/drilldown.py").run()
    assert not at.exception, at.exception
    return at


def _matches(at) -> int:
    text = " ".join(m.value for m in at.markdown)
    found = re.search(r"\*\*([\d,]+)\*\* ", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_a_deep_link_opens_the_same_view(seeded) -> None:
    truth = seeded.truth
    at = _open("executive", dataset="messages", status="E", facility=["FAC01"])
    nacked = {c for c in truth.nacked if c.startswith("MSG-FAC01")}
    assert _matches(at) == len(nacked)
    table = at.dataframe[0].value
    assert set(table["control_id"]) == nacked
    assert set(table["status"]) == {"E"} and set(table["facility_id"]) == {"FAC01"}
    assert at.selectbox(key="dataset").value == "messages"
    assert at.multiselect(key="facility").value == ["FAC01"]


def test_kpi_record_sets_hold_exactly_the_seeded_faults(seeded) -> None:
    truth = seeded.truth
    at = _open("steward", dataset="duplicates")
    assert _matches(at) == len(truth.duplicated)
    assert set(at.dataframe[0].value["usage_id"]) == truth.duplicated
    at = _open("steward", dataset="mappings", status="unknown_item")
    assert _matches(at) == len(truth.unknown_item)
    at = _open("steward", dataset="messages", status="Q")
    assert set(at.dataframe[0].value["control_id"]) == truth.queued
    at = _open("interface_owner", dataset="held")  # acknowledged 40 minutes late
    assert _matches(at) == len(truth.held)
    table = at.dataframe[0].value
    assert set(table["control_id"]) == truth.held
    assert set(table["wait_min"]) == {40.0}


def test_paging_happens_in_the_store(seeded_sqlite) -> None:
    truth = seeded_sqlite.truth
    first = _open("executive", dataset="usage")
    assert _matches(first) == sum(truth.usages.values())
    second = _open("executive", dataset="usage", page="2")
    page1, page2 = first.dataframe[0].value, second.dataframe[0].value
    assert len(page1) == len(page2) == 50
    assert not set(page1["usage_id"]) & set(page2["usage_id"])
    assert page1["used_at"].min() >= page2["used_at"].max()  # newest first


def test_an_id_search_finds_one_record_and_csv_holds_every_match(seeded_sqlite) -> None:
    truth = seeded_sqlite.truth
    usage_id = sorted(truth.missing_charge)[0]
    at = _open("executive", dataset="usage", search=usage_id)
    assert _matches(at) == 1
    assert list(at.dataframe[0].value["usage_id"]) == [usage_id]
    with seeded_sqlite.engine.connect() as conn:
        text = records.csv_of_records(conn, DrillFilters(dataset="usage"), 100_000)
        lines = text.strip().splitlines()
        assert lines[0].startswith("usage_id,facility_id")
        assert len(lines) == 1 + sum(truth.usages.values())
        capped = records.csv_of_records(conn, DrillFilters(dataset="usage"), 7)
        assert len(capped.strip().splitlines()) == 8


def test_a_kpi_link_opens_only_its_problems(seeded) -> None:
    """The charge-capture card's link: due usage in the window, problems only."""
    from sqlalchemy import func, select

    from store.schema_metrics import metric_usage_points as p

    at = _open("executive", dataset="capture", problems="true")
    assert at.checkbox(key="problems").value is True
    with seeded.engine.connect() as conn:
        expected = conn.execute(select(func.sum(p.c.late + p.c.missing + p.c.unmapped)).where(
            p.c.grain == "hour")).scalar_one()
    assert _matches(at) == int(expected)
    assert set(at.dataframe[0].value["capture"]) <= {"late", "missing", "unmapped"}


def test_each_view_takes_its_filters_from_its_url_alone(seeded_sqlite) -> None:
    """Issue 19 item 8: a held-messages view opened after a status=E view kept status=E."""
    truth = seeded_sqlite.truth
    at = _open("interface_owner", dataset="messages", status="E")
    assert at.selectbox(key="status").value == "E"
    at.query_params.clear()
    at.query_params["dataset"] = ["held"]
    at.switch_page("views/drilldown.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dataset").value == "held"
    assert (at.selectbox(key="status").value or "") == ""
    assert _matches(at) == len(truth.held)


def test_a_record_opens_its_trace_in_one_click_and_the_trace_links_back(seeded) -> None:
    """Issue 19 item 6."""
    truth = seeded.truth
    at = _open("steward", dataset="duplicates")
    table = at.dataframe[0].value
    extra = str(table.iloc[0]["charge_id"])
    assert "$" in " ".join(m.value for m in at.markdown)  # a $ total beside the count
    at.session_state["dd_records"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="trace").value == extra
    said = " ".join(e.value for e in at.error)
    assert f"credit {extra}" in said
    back = [(label, q) for label, page, q in links(at) if page.startswith("drilldown")]
    assert back and back[0][1]["dataset"] == ["duplicates"]
    assert truth.duplicated
