"""Every role, in Chromium, signs in while another process keeps the SQLite store's write
lock busy (as a collector does), lands on the page that answers its question, and opens
every page its role may see: each shows its heading and no error or traceback; the menu
lists exactly the pages of its role."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.access import HOME, pages_for
from tests.app.lock_holder import holding_writes
from tests.browser.conftest import PASSWORD, ROLES
from tests.browser.harness import open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _landing(role: str) -> str:
    return next(path for r, path in HOME if r == role)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_under_a_busy_writer_and_opens_every_page_it_may(
        page: Page, server, store, role: str) -> None:
    url, _ = store
    specs = pages_for(frozenset({role}))
    with holding_writes(url):
        open_page(page, server.url)
        sign_in(page, f"{role}@test", PASSWORD)
        landing = next(s for s in specs if s.path == _landing(role))
        expect(page.get_by_role("heading", name=landing.title).first).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        nav = page.get_by_test_id("stSidebarNav")
        for spec in specs:
            expect(nav.get_by_role("link", name=spec.title)).to_have_count(1)
        for spec in specs:
            open_page(page, f"{server.url}/{spec.url_path}")
            expect(page.get_by_role("heading", name=spec.title).first).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
            expect(page.get_by_text("Traceback")).to_have_count(0)
            expect(page.get_by_text("database is locked")).to_have_count(0)
