"""The system graph in Chromium: a click on a node, or on an edge's diamond, lands on the
records behind it (issue 19, item 7: clicking a node did nothing)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import PASSWORD
from tests.browser.harness import open_page, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Where Plotly drew the point whose customdata is ``key``, in page pixels (the chart's own
# axes convert; no guessing from the layout).
POINT_JS = """([key]) => {
  const gd = document.querySelector('.st-key-ln_graph .js-plotly-plot');
  const full = gd._fullLayout, box = gd.getBoundingClientRect();
  for (const trace of gd._fullData) {
    const custom = trace.customdata || [];
    for (let i = 0; i < custom.length; i++) {
      if (custom[i] && custom[i][0] === key) {
        return [box.left + full._size.l + full.xaxis.l2p(trace.x[i]),
                box.top + full._size.t + full.yaxis.l2p(trace.y[i])];
      }
    }
  }
  return null;
}"""


def _open_graph(page: Page, server, *, signed_in: bool = False) -> None:
    if not signed_in:
        open_page(page, server.url)
        sign_in(page, "interface_owner@test", PASSWORD)
    open_page(page, server.url + "/lineage")
    chart = page.locator(".st-key-ln_graph .js-plotly-plot")
    expect(chart).to_be_visible()
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)


def _click(page: Page, key: str) -> None:
    """Click the point of ``key`` and wait for the records page. On a loaded machine the
    first click can land before Plotly has wired its click handler (nothing happens, as
    a user would click again): up to three clicks, each given 15 s to navigate."""
    for attempt in range(3):
        at = page.evaluate(POINT_JS, [key])
        assert at is not None, f"no point {key} on the graph"
        page.mouse.move(at[0], at[1])
        page.wait_for_timeout(300)
        page.mouse.click(at[0], at[1])
        try:
            page.wait_for_url(re.compile(r"/drilldown\?"), timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            wait_ready(page)
    wait_ready(page)


def test_a_click_on_a_channel_node_opens_its_own_messages(page: Page, server) -> None:
    _open_graph(page, server)
    _click(page, "channel:FAC02/FAC02_CHG_OUT")
    params = parse_qs(urlparse(page.url).query)
    assert params["dataset"] == ["messages"]
    assert (params["channel"], params["facility"]) == (["FAC02_CHG_OUT"], ["FAC02"])
    assert params["since"] and params["until"]
    expect(page.get_by_role("heading", name="Drill-down")).to_be_visible()
    expect(page.get_by_text(re.compile(r"interface messages match"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_click_on_a_system_and_on_an_edge_open_their_records(page: Page, server) -> None:
    _open_graph(page, server)
    _click(page, "erp")
    params = parse_qs(urlparse(page.url).query)
    assert (params["dataset"], params["problems"]) == (["inventory"], ["true"])
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _open_graph(page, server, signed_in=True)
    edge = page.evaluate("""() => {
      const gd = document.querySelector('.st-key-ln_graph .js-plotly-plot');
      for (const t of gd._fullData) for (const c of (t.customdata || []))
        if (c && String(c[0]).startsWith('edge:') && t.hovertext &&
            String(t.hovertext[0]).startsWith('EHR → ERP')) return c[0];
      return null; }""")
    assert edge, "no EHR -> ERP edge on the graph"
    _click(page, edge)
    assert parse_qs(urlparse(page.url).query)["dataset"] == ["inventory"]
