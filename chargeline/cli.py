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

_mounted: list[typer.Typer] = []


def _register_subcommands() -> None:
    """Sub-command modules of the other packages (each adds to ``app``)."""
    import importlib

    for module in (
        "store.cli",
        "simulator.cli",
        "collectors.cli",
        "metrics.cli",
        "rules.cli",
        "alerting.cli",
        "app.cli",
        "chargeline.demo",
    ):
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        # TRANSITION (issue 20): a package's cli.py exposes ``cli``, mounted here
        sub = getattr(loaded, "cli", None)
        if isinstance(sub, typer.Typer) and sub not in _mounted:
            app.add_typer(sub)
            _mounted.append(sub)


_register_subcommands()


def main() -> None:
    try:
        app()
    except ChargelineError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
