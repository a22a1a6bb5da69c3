"""Dashboard test fixtures: a seeded store per backend, clean Streamlit caches, and an
AppTest on the real entry script signed in as a given role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.session import USER_KEY
from app.users import User, add_user
from tests.app.factories import seed_store

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT = 30


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def seeded(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A store with two facilities of records and one user per role; the app points at it."""
    expected = seed_store(engine)
    with engine.begin() as conn:
        for role in ("executive", "interface_owner", "steward", "admin"):
            add_user(conn, f"{role}@test", [role], password="secret-pw")
    monkeypatch.setenv("CHARGELINE_DATABASE_URL", store_url)
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    return expected


@pytest.fixture
def app_as(seeded: dict) -> Callable[[str], AppTest]:
    """An AppTest of the entry script, signed in with one role (not yet run)."""

    def make(role: str) -> AppTest:
        at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
        at.session_state[USER_KEY] = User(f"{role}@test", frozenset({role}))
        return at

    return make
