"""The executive overview: KPI cards from the computed metrics, per facility, trends, and
a way from every number to its records."""

from __future__ import annotations

import re

import pytest
import streamlit as st

from tests.app.conftest import links, signed_in
from tests.app.test_revenue_page import seed_dnfb, seed_remittances

REVENUE_CARDS = {"Initial denial rate", "Charge lag", "Late charges ($)", "DNFB days"}


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def test_cards_show_the_seeded_numbers_and_link_to_their_records(seeded) -> None:
    at = signed_in("executive").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric if m.label not in REVENUE_CARDS}
    assert list(cards) == ["Charge capture", "Revenue at risk", "Duplicate charges",
                           "Failed mappings", "Inventory accuracy", "Replenishment cycle",
                           "Margin", "Usage events"]
    truth = seeded.truth
    assert _money(cards["Duplicate charges"]) == pytest.approx(sum(truth.duplicate_usd.values()))
    assert 0 < float(cards["Charge capture"].rstrip(" %")) < 100
    assert 0 < float(cards["Inventory accuracy"].rstrip(" %")) < 100
    assert _money(cards["Revenue at risk"]) >= _money(cards["Failed mappings"]) > 0
    assert cards["Replenishment cycle"] == "21.0 h"  # FAC01 18 h, FAC02 24 h, same count
    assert cards["Usage events"] == f"{sum(truth.usages.values()):,}"
    drills = {params["dataset"][0] for label, page, params in links(at)
              if label.startswith("Records")}
    assert drills == {"capture", "at_risk", "duplicates", "mappings", "inventory",
                      "replenishment", "procedures", "usage"}
    table = at.dataframe[0].value
    # named as on the trend's legend: name and code
    assert list(table["facility"]) == ["General Hospital (FAC01)", "St Mary's (FAC02)"]
    assert list(table["Duplicate charges"]) == [pytest.approx(truth.duplicate_usd["FAC01"]),
                                                pytest.approx(truth.duplicate_usd["FAC02"])]


def test_a_shorter_window_shows_trends_against_the_previous_one(seeded) -> None:
    at = signed_in("executive").run()
    at.sidebar.selectbox(key="window").select("24 h").run()
    assert not at.exception, at.exception
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Charge capture"].endswith("pts")
    assert deltas["Duplicate charges"].endswith("%")


def test_a_facility_row_opens_links_to_its_records(seeded_sqlite) -> None:
    at = signed_in("executive").run()
    at.session_state["ov_facilities"] = {"selection": {"rows": [1], "columns": [],
                                                       "cells": []}}
    at.run()
    assert not at.exception, at.exception
    facility_links = [(label, params) for label, page, params in links(at)
                      if page == "drilldown" and "facility" in params]
    assert len(facility_links) == 8
    assert {p["facility"][0] for _, p in facility_links} == {"FAC02"}
    assert "St Mary's" in " ".join(m.value for m in at.markdown)


def test_trend_chart_carries_the_facility_for_a_box_selection(seeded_sqlite) -> None:
    import json

    at = signed_in("executive").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    facilities = {d["name"] for d in spec["data"]}  # the legend names them as the table
    assert facilities == {"General Hospital (FAC01)", "St Mary's (FAC02)"}
    for trace in spec["data"]:  # a box-selection drills by the code
        assert {c[0] for c in trace["customdata"]} == {trace["name"][-6:-1]}
    margin = json.loads(at.get("plotly_chart")[1].proto.spec)
    # each procedure named with what it is (issue 19 item 11); a click drills by the code
    assert {y for d in margin["data"] for y in d["y"]} == {
        "27130 · Total hip replacement", "92928 · Coronary stent placement",
        "29827 · Shoulder arthroscopy, rotator cuff repair"}
    assert {c[0] for d in margin["data"] for c in d["customdata"]} == {"27130", "92928",
                                                                      "29827"}


def test_the_default_window_keeps_extras_posted_after_the_newest_usage(engine) -> None:
    """Seeded at 21:10, the newest usage is in the 20:00 hour but a duplicate charge
    posts at 21:xx: the window must end after the extra, or the card loses its $."""
    from datetime import UTC, datetime, timedelta

    from app.data.kpis import kpi_sums, latest_bucket
    from app.shaping.window import window_ending
    from tests.app.factories import seed_estate

    truth = seed_estate(engine, end=datetime(2026, 11, 25, 21, 10, tzinfo=UTC))
    with engine.connect() as conn:
        latest = latest_bucket(conn)
        window = window_ending(latest, timedelta(days=7))
        sums = kpi_sums(conn, window.start, window.end)
    assert latest == datetime(2026, 11, 25, 21, tzinfo=UTC)
    assert sum(r["dup_usd"] for r in sums) == pytest.approx(sum(truth.duplicate_usd.values()))


def test_the_day_not_yet_over_is_hollow_on_the_trend(seeded_sqlite) -> None:
    import json
    from datetime import UTC, datetime

    at = signed_in("executive").run()  # 7 days: day points, and today is not over
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    hollow = [(x.startswith(today), symbol == "circle-open") for trace in spec["data"]
              for x, symbol in zip(trace["x"], trace["marker"]["symbol"], strict=True)]
    assert hollow and all(is_today == is_hollow for is_today, is_hollow in hollow)
    # the caption comes with the hollow points (none just after midnight, when the window
    # ends with a whole day or today has no record yet)
    assert any(h for _, h in hollow) == any("is not over" in c.value for c in at.caption)


def _drill_figures(params: dict[str, list[str]]) -> tuple[int, list[float], str]:
    """What the drill-down says of a link's records: the count, every $ on its total line."""
    at = signed_in("executive")
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("views/drilldown.py").run()
    assert not at.exception, at.exception
    line = next(m.value for m in at.markdown if " match" in m.value)
    count = int(re.search(r"\*\*([\d,]+)\*\* ", line).group(1).replace(",", ""))
    return count, [_money(m) for m in re.findall(r"\$[\d,.]+", line)], line


def test_every_card_link_opens_records_that_reproduce_the_card(seeded) -> None:
    """Issue 19 item 3 and 9: a $ card's records add up to the card (the Margin card's:
    billed less supply cost, said so); a count card's are as many; a rate's or a mean's
    link says how many records it opens, and opens that many."""
    at = signed_in("executive").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric if m.label not in REVENUE_CARDS}
    records = [(label, q) for label, page, q in links(at) if label.startswith("Records")]
    assert len(records) == len(cards)
    for (card, figure), (label, params) in zip(cards.items(), records, strict=True):
        count, money, line = _drill_figures(params)
        if card == "Margin":
            billed, cost, margin = money
            assert "billed" in line and "supply cost" in line and "margin" in line, line
            assert margin == pytest.approx(billed - cost, abs=0.01)
            assert round(margin) == _money(figure), line
        elif figure.startswith("$"):
            assert round(money[0]) == _money(figure), (card, line)
        elif card == "Usage events":
            assert count == int(figure.replace(",", "")), line
        else:  # a rate or a mean: the link names the count it opens
            said = re.fullmatch(r"Records: ([\d,]+) .+", label)
            assert said, label
            assert count == int(said.group(1).replace(",", "")) > 0, (card, label, line)


def test_the_revenue_cycle_row_reads_the_revenue_metrics(seeded) -> None:
    """Without claims or remittances the row has charge lag and late charges only; with
    them, the initial denial rate and DNFB days as the Revenue cycle page reads them."""
    at = signed_in("executive").run()
    assert not at.exception, at.exception
    assert {m.label for m in at.metric} & REVENUE_CARDS == {"Charge lag", "Late charges ($)"}
    seed_remittances(seeded.engine, seeded.truth.end)
    seed_dnfb(seeded.engine, seeded.truth.end)
    st.cache_data.clear()  # as a page's own write would (app.actions)
    at = signed_in("executive").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Initial denial rate"] == "60.0 %"  # as the Revenue cycle page's card
    revenue = signed_in("executive")
    revenue.switch_page("views/revenue.py").run()
    page = {m.label: m.value for m in revenue.metric}
    assert cards["Charge lag"] == page["Charge lag (mean)"]
    assert cards["Late charges ($)"] == page["Late charges (% of billed $)"]
    assert re.fullmatch(r"\d+\.\d\d", cards["DNFB days"]), cards["DNFB days"]
    assert any(page == "revenue" for _, page, _ in links(at))
