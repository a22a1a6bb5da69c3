"""``chargeline db``: create and migrate the store."""

from __future__ import annotations

import typer

from core.config import load_settings
from store.engine import check_connection, make_engine
from store.migrate import current_revision, upgrade

cli = typer.Typer()
db_group = typer.Typer(help="The store: create and migrate the database.", no_args_is_help=True)
cli.add_typer(db_group, name="db")


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store named by CHARGELINE_DATABASE_URL to the newest schema."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    typer.echo(f"store at revision {current_revision(engine)}")
