"""The dashboard as its users meet it (issue 19), in Chromium: sign in while another process
keeps the SQLite store's write lock busy (as the collector does), walk from a KPI to its
records, one click from a record to its trace and back; a steward credits a duplicate
from the queue, which names the extra charge."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from store.engine import make_engine
from store.schema_metrics import metric_exceptions
from tests.app.lock_holder import holding_writes
from tests.browser.conftest import PASSWORD
from tests.browser.harness import open_page, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _click_first_row(page: Page, key: str) -> None:
    """Select the first data row of a ``st.dataframe`` (a canvas: click its row marker,
    30 px wide, below the 35 px header — the geometry Streamlit's own e2e tests use)."""
    grid = page.locator(f".st-key-{key}")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None, f"no table {key}"
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    page.wait_for_timeout(300)
    wait_ready(page)


def test_sign_in_beside_a_busy_writer_then_kpi_records_trace_and_back(
        page: Page, server, store) -> None:
    url, truth = store
    with holding_writes(url):
        open_page(page, server.url)
        sign_in(page, "executive@test", PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        # The Duplicate charges card's records (the third card's link).
        page.get_by_role("link", name="Records").nth(2).click()
        page.wait_for_url(re.compile(r"/drilldown\?.*dataset=duplicates"), timeout=30_000)
        wait_ready(page)
        records_url = page.url
        expect(page.get_by_text(re.compile(r"duplicate charges match · \$"))).to_be_visible()
        _click_first_row(page, "dd_records")
        page.wait_for_url(re.compile(r"/lineage\?"), timeout=30_000)
        wait_ready(page)
        traced = parse_qs(urlparse(page.url).query)["trace"][0]
        extras = {ids[1] for ids in truth.charges.values() if len(ids) > 1}
        assert traced in extras
        expect(page.get_by_test_id("stAlert").filter(
            has_text=f"charged twice: credit {traced}")).to_be_visible()
        expect(page.get_by_text("every hop arrived")).to_have_count(0)
        page.get_by_role("link", name="Back to the records").click()
        page.wait_for_url(re.compile(r"/drilldown\?"), timeout=30_000)
        wait_ready(page)
        assert parse_qs(urlparse(page.url).query) == parse_qs(urlparse(records_url).query)
        expect(page.get_by_text(re.compile(r"duplicate charges match"))).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_steward_acts_on_the_extra_charge_of_a_duplicate(page: Page, server, store) -> None:
    url, truth = store
    with holding_writes(url):
        open_page(page, f"{server.url}/exceptions?ex_queue=Duplicate+charges")
        sign_in(page, "steward@test", PASSWORD)
        expect(page.get_by_role("heading", name="Exceptions")).to_be_visible()
        extras = {ids[1]: ids[0] for ids in truth.charges.values() if len(ids) > 1}
        detail = page.get_by_text(re.compile(r"duplicate charge · credit CHG-"))
        expect(detail).to_be_visible()
        extra = re.search(r"credit (CHG-\S+)", detail.inner_text()).group(1)
        assert extra in extras
        expect(page.get_by_text(f"repeats {extras[extra]} (same").filter(visible=True)
               ).to_be_visible()
        expect(page.get_by_role("link", name=f"Trace {extra}")).to_be_visible()
        page.locator(".st-key-ex_comment input").fill("credit requested")
        page.locator(".st-key-ex_comment input").press("Enter")
        wait_ready(page)
        page.locator(".st-key-ex_save button").click()
        wait_ready(page)
        expect(page.get_by_text(re.compile(r"duplicate_charge:.*: investigating"))).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
    engine = make_engine(url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(metric_exceptions.c.charge_ids,
                                            metric_exceptions.c.status).where(
            metric_exceptions.c.kind == "duplicate_charge")).all())
    engine.dispose()
    assert statuses[extra] == "investigating"


def test_a_failed_calls_link_opens_exactly_its_failed_calls(page: Page, server) -> None:
    open_page(page, f"{server.url}/interfaces")
    sign_in(page, "interface_owner@test", PASSWORD)
    expect(page.get_by_role("heading", name="Interfaces")).to_be_visible()
    link = page.get_by_role("link", name=re.compile(r"failed calls?$")).first
    link.scroll_into_view_if_needed()
    figure = re.search(r": ([\d,]+) failed calls?", link.inner_text()).group(1)
    link.click()
    page.wait_for_url(re.compile(r"/drilldown\?.*problems=true"), timeout=30_000)
    wait_ready(page)
    expect(page.get_by_text(f"{figure} api calls match")).to_be_visible()
