"""Browser-test fixtures: one seeded SQLite store and one real ``streamlit run`` per
module, Debian's Chromium for the session, a fresh browser context (no cookies) per test.

Chromium comes from ``scripts/setup-system.sh`` (``make test`` runs it); without it the
tests skip — except under ``CI=true``, where a missing browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.data.users import add_user
from store.engine import make_engine
from store.migrate import upgrade
from tests.app.factories import Truth, seed_estate
from tests.browser.harness import CHROMIUM, StreamlitServer, launch

PASSWORD = "browser-pw"
ROLES = ("executive", "interface_owner", "steward", "admin")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: run scripts/setup-system.sh (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Truth]:
    """A seeded SQLite store with one local account per role."""
    path = tmp_path_factory.mktemp("browser-store") / "chargeline.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    truth = seed_estate(engine)
    with engine.begin() as conn:
        for role in ROLES:
            add_user(conn, f"{role}@test", [role], password=PASSWORD)
    engine.dispose()
    return url, truth


@pytest.fixture(scope="module")
def server(store: tuple[str, Truth],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    running = StreamlitServer(store[0], tmp_path_factory.mktemp("streamlit")).start()
    yield running
    running.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()
