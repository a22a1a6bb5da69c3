"""The ``chargeline`` command. Each package contributes its own sub-commands; this module
only assembles them and turns ``ChargelineError`` into one clear line and an exit code."""

from __future__ import annotations

import sys

import typer

from core.errors import ChargelineError

app = typer.Typer(
    help="Chargeline: data-quality observability for charge capture and supply flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

db_app = typer.Typer(help="The store: create and migrate the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store named by CHARGELINE_DATABASE_URL to the newest schema."""
    from core.config import load_settings
    from store.engine import check_connection, make_engine
    from store.migrate import current_revision, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    typer.echo(f"store at revision {current_revision(engine)}")


def _register_subcommands() -> None:
    """Sub-command modules of the other packages (each adds to ``app``)."""
    import importlib

    for module in (
        "simulator.cli",
        "collectors.cli",
        "metrics.cli",
        "rules.cli",
        "alerting.cli",
        "app.cli",
        "chargeline.demo",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main() -> None:
    _register_subcommands()
    try:
        app()
    except ChargelineError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
