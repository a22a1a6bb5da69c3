"""Shared fixtures: a migrated store on SQLite *and* PostgreSQL for every store test.

``engine`` is parametrised over both backends. PostgreSQL is the server on
127.0.0.1:5432 (``CHARGELINE_TEST_PG_URL`` to change); each test session gets a database
of its own, migrated once and truncated between tests. Under ``CI=true`` a missing server
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit.logger
from sqlalchemy import Engine, create_engine, text

from store.engine import checkpoint_wal, make_engine
from store.migrate import upgrade
from store.schema import metadata

# Importing the app's cached query functions outside a Streamlit runtime warns once per
# function ("No runtime found"); AppTest provides the runtime where it matters.
streamlit.logger.set_log_level("error")

PG_ADMIN_URL = os.environ.get(
    "CHARGELINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# The suite runs on the documented demo secret, as the demo does (core.keys logs a
# warning): with none set, every process would generate one into its ./data. Tests of
# the unset case remove it from their environment.
os.environ.setdefault("CHARGELINE_PHI_SECRET", "chargeline-demo-secret-change-me")

# estate_factory: a running demo estate (simulator) for any test; see tests/estate.py
pytest_plugins = ["tests.estate"]


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure means "no server here"
        return str(exc).splitlines()[0]


def require_pg() -> None:
    """Skip when no PostgreSQL server answers; under ``CI=true`` fail instead."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")


@contextmanager
def scratch_pg_database(prefix: str, *, template: str = "") -> Iterator[str]:
    """A new PostgreSQL database (a copy of ``template`` when given) for the block: its
    URL; dropped after, even with sessions still open on it."""
    require_pg()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    copy_of = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (or worker)."""
    with scratch_pg_database("chargeline_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("store") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    checkpoint_wal(engine)
    engine.dispose()
    return path


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated store; once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "chargeline.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database_url")
        engine = make_engine(url)
        _truncate_all(engine)
        engine.dispose()
        yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """An engine on an empty, migrated store (SQLite and PostgreSQL)."""
    eng = make_engine(store_url)
    yield eng
    eng.dispose()
