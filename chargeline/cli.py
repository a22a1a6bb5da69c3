"""The ``chargeline`` command: the entry room assembles it. Each package's ``cli.py``
holds its own commands in a ``cli`` Typer; this module mounts them, hands the collector
commands their wiring (``ctx.obj``, ``chargeline.wiring``), and turns ``ChargelineError``
into one clear line and an exit code."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from alerting.cli import cli as alerting_cli
from app.cli import cli as app_cli
from chargeline.demo import cli as demo_cli
from chargeline.retention import retain_command
from chargeline.wiring import WIRING
from collectors.cli import cli as collectors_cli
from core.errors import ChargelineError
from metrics.cli import cli as metrics_cli
from rules.cli import cli as rules_cli
from simulator.cli import cli as simulator_cli
from store.cli import cli as store_cli
from store.cli import db_group


class CommandsThenGroups(TyperGroup):
    """``chargeline --help`` lists the commands, then the groups, each in mount order."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: isinstance(self.commands[name], TyperGroup))


app = typer.Typer(
    cls=CommandsThenGroups,
    help="Chargeline: data-quality observability for charge capture and supply flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# commands in the order data flows (simulate, collect ... demo), groups from db to users
for package_cli in (store_cli, simulator_cli, collectors_cli, metrics_cli, rules_cli,
                    alerting_cli, app_cli, demo_cli):
    app.add_typer(package_cli)
# store upkeep that needs the metrics room (retention keeps the metric tables consistent)
db_group.command("retain")(retain_command)


@app.callback()
def wire(ctx: typer.Context) -> None:
    """Chargeline: data-quality observability for charge capture and supply flows."""
    if ctx.obj is None:
        ctx.obj = WIRING


def main() -> None:
    try:
        app()
    except ChargelineError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
