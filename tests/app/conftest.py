"""Dashboard test fixtures: a seeded store per backend, clean Streamlit caches, and an
AppTest of the real entry script signed in with a given role.

Seeding (canonical rows, metric computation, alerts, users) runs once per backend and
session; each test gets its own copy — a file copy on SQLite, ``CREATE DATABASE ...
TEMPLATE`` on PostgreSQL — so tests that acknowledge or silence alerts cannot disturb
each other.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine, make_url
from streamlit.testing.v1 import AppTest

from app.data.users import User, add_user
from app.session import USER_KEY
from store.engine import checkpoint_wal, make_engine
from store.migrate import upgrade
from tests.app.factories import Truth, seed_estate
from tests.conftest import scratch_pg_database

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT = 30
ROLES = ("executive", "interface_owner", "steward", "admin")
PASSWORD = "secret-pw"


@dataclass(frozen=True)
class Seeded:
    """A seeded store: its URL, an engine on it, and the truth of what went in."""

    url: str
    engine: Engine
    truth: Truth


def _seed(engine: Engine) -> Truth:
    upgrade(engine)
    truth = seed_estate(engine)
    with engine.begin() as conn:
        for role in ROLES:
            add_user(conn, f"{role}@test", [role], password=PASSWORD)
    return truth


@pytest.fixture(scope="session")
def _sqlite_seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("app-store") / "seeded.db"
    engine = make_engine(f"sqlite:///{path}")
    truth = _seed(engine)
    checkpoint_wal(engine)
    engine.dispose()
    return path, truth


@pytest.fixture(scope="session")
def _pg_seeded() -> Iterator[tuple[str, Truth]]:
    with scratch_pg_database("chargeline_app_tpl") as url:
        engine = make_engine(url)
        truth = _seed(engine)
        engine.dispose()
        yield make_url(url).database or "", truth


def _seeded_copy(request: pytest.FixtureRequest, backend: str,
                 tmp_path: Path) -> Iterator[tuple[str, Truth]]:
    if backend == "sqlite":
        path, truth = request.getfixturevalue("_sqlite_seeded")
        copy = tmp_path / "chargeline.db"
        shutil.copy(path, copy)
        yield f"sqlite:///{copy}", truth
        return
    template, truth = request.getfixturevalue("_pg_seeded")
    with scratch_pg_database("chargeline_app", template=template) as url:
        yield url, truth


def _point_app_at(url: str, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("CHARGELINE_DATABASE_URL", url)
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    monkeypatch.chdir(folder)  # no stray chargeline.yaml or data/rules from elsewhere


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    """A seeded store on both backends; the app points at it."""
    for url, truth in _seeded_copy(request, request.param, tmp_path):
        _point_app_at(url, monkeypatch, tmp_path)
        engine = make_engine(url)
        yield Seeded(url, engine, truth)
        engine.dispose()


@pytest.fixture
def seeded_sqlite(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    """The seeded store on SQLite only (for the page x role matrix)."""
    for url, truth in _seeded_copy(request, "sqlite", tmp_path):
        _point_app_at(url, monkeypatch, tmp_path)
        engine = make_engine(url)
        yield Seeded(url, engine, truth)
        engine.dispose()


def signed_in(role: str, **state: Any) -> AppTest:
    """An AppTest of the entry script, signed in with ``role`` (not yet run)."""
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = User(f"{role}@test", frozenset({role}))
    for key, value in state.items():
        at.session_state[key] = value
    return at


def page_text(at: AppTest) -> str:
    """Everything the rendered page holds, as text (protos include table bytes)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in (children.values() if isinstance(children, dict) else children):
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def links(at: AppTest) -> list[tuple[str, str, dict[str, list[str]]]]:
    """Every page link on the page: (label, target page, query parameters)."""
    from urllib.parse import parse_qs

    return [(e.proto.label, e.proto.page, parse_qs(e.proto.query_string))
            for e in at.get("page_link")]


def ingested_now(end: datetime) -> datetime:
    """When a test's extra records are stored: ``end``, or now when the seeded store's own
    records were stored after it (just past midnight the window ends before the seeding
    did). A pass takes rows stored before its watermark for rows it has seen, and so do
    the reads of what the pass keeps."""
    return max(end, datetime.now(UTC))
