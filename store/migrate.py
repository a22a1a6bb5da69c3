"""Bring a store to the newest schema with Alembic (also what ``chargeline db upgrade`` runs)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Migrate the store behind ``engine`` to ``revision``."""
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise StoreError(
            f"migrating {engine.url.render_as_string(hide_password=True)} failed: "
            f"{str(exc.orig).strip()} — check the database is reachable and writable"
        ) from None


def current_revision(engine: Engine) -> str:
    """The store's revision(s), comma-joined: each package's migrations are a branch
    off ``0001`` (metrics, alerting, app), so a store part-way up has several heads;
    ``0050`` (the text collation, which spans every package's tables) merges them."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads))


def head_revision() -> str:
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def open_store(url: str) -> Engine:
    """An engine on the store at ``url``, reachable and migrated to the newest schema
    (what every command that writes does first); ``StoreError`` says what is wrong."""
    from store.engine import check_connection, make_engine

    engine = make_engine(url)
    check_connection(engine)
    upgrade(engine)
    return engine
