"""The sign-in cookie's attributes as Chromium stores them when the page is served over
HTTPS (a TLS proxy in front of Streamlit) and over plain HTTP (a laptop): SameSite=Strict
always, Secure on HTTPS, so the browser never sends it in clear. No Streamlit server: the
dashboard's own snippet (``app.session.cookie_script``) on a routed page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route

from app.session import cookie_script
from app.session_token import COOKIE_NAME


@pytest.mark.parametrize(("origin", "secure"), [("https://chargeline.example.org", True),
                                                ("http://chargeline.example.org", False)])
def test_the_sign_in_cookie_is_secure_over_https(browser: Browser, origin: str,
                                                 secure: bool) -> None:
    page_html = f"<html><body>{cookie_script('abc123', 1800)}</body></html>"
    context = browser.new_context(ignore_https_errors=True)
    try:
        tab = context.new_page()

        def fulfil(route: Route) -> None:
            route.fulfill(status=200, content_type="text/html", body=page_html)
        tab.route(f"{origin}/**", fulfil)
        tab.goto(f"{origin}/")
        (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE_NAME]
    finally:
        context.close()
    assert cookie["value"] == "abc123"
    assert cookie["secure"] is secure
    assert cookie["sameSite"] == "Strict"
    assert cookie["httpOnly"] is False  # a script sets it: Streamlit has no header API
