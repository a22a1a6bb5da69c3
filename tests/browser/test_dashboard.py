"""The dashboard in a real browser against a real ``streamlit run``: sign in, the overview
with numbers, a Plotly box-selection down to records, a deep link from an e-mail, an
alert acknowledged."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from rules.evaluate import fingerprint
from store.engine import make_engine
from store.schema_alerting import alert_actions, alert_instances
from tests.browser.conftest import PASSWORD
from tests.browser.harness import box_select, open_page, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_lands_on_the_overview_with_numbers(page: Page, server) -> None:
    open_page(page, server.url)
    expect(page.get_by_role("heading", name="Chargeline")).to_be_visible()
    sign_in(page, "executive@test", PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    values = page.get_by_test_id("stMetricValue")
    # the eight KPIs, then the revenue-cycle row: charge lag and late charges (this store
    # has no claim or remittance, so no denial rate or DNFB days)
    expect(values).to_have_count(10)
    labels = page.get_by_test_id("stMetricLabel")
    expect(labels.nth(8)).to_contain_text("Charge lag")
    expect(labels.nth(9)).to_contain_text("Late charges")
    assert re.fullmatch(r"\d+\.\d %", values.nth(0).inner_text().strip())
    assert re.fullmatch(r"\$[\d,]+", values.nth(2).inner_text().strip())
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_contain_text("Drill-down")
    expect(nav).not_to_contain_text("Admin")  # not the executive's page


def test_a_box_selection_on_the_trend_drills_down_to_records(page: Page, server) -> None:
    open_page(page, server.url)
    sign_in(page, "executive@test", PASSWORD)
    box_select(page, "ov_trend")
    page.wait_for_url(re.compile(r"/drilldown\?"), timeout=30_000)
    wait_ready(page)
    params = parse_qs(urlparse(page.url).query)
    assert params["dataset"] == ["capture"]
    assert set(params["facility"]) <= {"FAC01", "FAC02"} and params["facility"]
    assert params["since"] and params["until"]
    expect(page.get_by_role("heading", name="Drill-down")).to_be_visible()
    expect(page.get_by_text(re.compile(r"charge capture \(due usage\) match"))).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()


def test_a_deep_link_opens_the_same_view_after_signing_in(page: Page, server, store) -> None:
    _, truth = store
    nacked = {c for c in truth.nacked if c.startswith("MSG-FAC01")}
    open_page(page, f"{server.url}/drilldown?dataset=messages&status=E&facility=FAC01")
    expect(page.get_by_role("heading", name="Chargeline")).to_be_visible()  # signed out
    sign_in(page, "steward@test", PASSWORD)
    assert urlparse(page.url).path == "/drilldown"
    expect(page.get_by_text(f"{len(nacked)} interface messages match")).to_be_visible()
    params = parse_qs(urlparse(page.url).query)
    assert params["dataset"] == ["messages"] and params["facility"] == ["FAC01"]
    # The same link in a new tab of a signed-in browser opens straight away (cookie).
    second = page.context.new_page()
    open_page(second, f"{server.url}/drilldown?dataset=messages&status=E&facility=FAC01")
    expect(second.get_by_text(f"{len(nacked)} interface messages match")).to_be_visible()


def test_an_alert_is_acknowledged(page: Page, server, store) -> None:
    url, _ = store
    target = fingerprint("nack-rate", {"facility": "FAC01", "channel": "FAC01_CHG_OUT"})
    open_page(page, f"{server.url}/alerts?rule=nack-rate&facility=FAC01&channel=FAC01_CHG_OUT")
    sign_in(page, "interface_owner@test", PASSWORD)
    expect(page.get_by_role("heading", name="nack-rate")).to_be_visible()
    page.locator(".st-key-al_comment input").fill("NACKs from the new CDM load")
    page.locator(".st-key-al_comment input").press("Enter")
    wait_ready(page)
    page.locator(".st-key-al_ack button").click()
    wait_ready(page)
    expect(page.get_by_text("nack-rate: acknowledged by interface_owner@test")).to_be_visible()
    engine = make_engine(url)
    with engine.connect() as conn:
        ack_by = conn.execute(select(alert_instances.c.ack_by).where(
            alert_instances.c.fingerprint == target)).scalar_one()
        actions = conn.execute(select(alert_actions.c.action, alert_actions.c.comment).where(
            alert_actions.c.fingerprint == target)).all()
    engine.dispose()
    assert ack_by == "interface_owner@test"
    assert ("ack", "NACKs from the new CDM load") in [tuple(a) for a in actions]


def _overflow(page: Page, selector: str) -> dict[str, int]:
    """A table's columns' width and its visible width (equal: every column shows)."""
    table = page.locator(f"{selector} [data-testid=stDataFrame]").first
    expect(table).to_be_visible()
    return table.evaluate("""el => {
        const s = el.querySelector('.dvn-scroller');
        return {scroll: s.scrollWidth, client: s.clientWidth};
    }""")


@pytest.mark.parametrize(("role", "path", "selector"), [
    ("interface_owner", "/interfaces", "[data-testid=stExpander]"),  # the channel table
    ("steward", "/alerts", ".st-key-al_table"),
    ("executive", "/overview", ".st-key-ov_facilities"),
])
def test_wide_tables_show_every_column_at_1440_px(page: Page, server, role: str, path: str,
                                                  selector: str) -> None:
    open_page(page, server.url + path)
    sign_in(page, f"{role}@test", PASSWORD)
    size = _overflow(page, selector)
    assert size["scroll"] <= size["client"] + 1, size
