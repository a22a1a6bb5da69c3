"""Bring a store to the newest schema with Alembic (also what ``chargeline db upgrade`` runs).

The migrations start from one baseline (``0056``, Chargeline 0.1.0): the pre-release
chain ``0001`` ... ``0055`` was folded into it. A store at one of those revisions cannot
be upgraded; :func:`upgrade` refuses it with a ``StoreError`` that says what to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from core.errors import StoreError
from store.engine import check_connection, make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# The revisions of the pre-release chain folded into the baseline (0056 kept its id).
PRE_RELEASE_REVISIONS = frozenset((
    "0001", "0002", "0003", "0004", "0005", "0010", "0020", "0021", "0022", "0023",
    "0024", "0030", "0040", "0050", "0051", "0052", "0053", "0054", "0055",
))


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
            _refuse_unknown_revision(conn, engine)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise StoreError(
            f"migrating {_shown(engine)} failed: "
            f"{str(exc.orig).strip()} — check the database is reachable and writable"
        ) from None


def _refuse_unknown_revision(conn: Connection, engine: Engine) -> None:
    """Alembic would stop on "Can't locate revision": say instead where the store came
    from and what to do with it."""
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = sorted(set(MigrationContext.configure(conn).get_current_heads()) - known)
    if not unknown:
        return
    at = ", ".join(unknown)
    if set(unknown) <= PRE_RELEASE_REVISIONS:
        raise StoreError(
            f"the store at {_shown(engine)} is at revision {at}, made by a pre-release "
            f"schema of Chargeline that this version cannot upgrade (its migrations start "
            f"at the 0.1.0 baseline, {head_revision()}). Export what you need from it, "
            "recreate the store (delete the SQLite file, or drop and create the database), "
            "then run `chargeline db upgrade`"
        )
    raise StoreError(
        f"the store at {_shown(engine)} is at revision {at}, which this version of "
        f"Chargeline does not know (its newest is {head_revision()}): it was migrated by "
        "a newer Chargeline; run that version, or point CHARGELINE_DATABASE_URL at "
        "another store"
    )


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def current_revision(engine: Engine) -> str:
    """The store's revision(s), comma-joined (one, since the baseline; an empty string
    for a store never migrated)."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads))


def head_revision() -> str:
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def open_store(url: str) -> Engine:
    """An engine on the store at ``url``, reachable and migrated to the newest schema
    (what every command that writes does first); ``StoreError`` says what is wrong."""
    engine = make_engine(url)
    check_connection(engine)
    upgrade(engine)
    return engine
