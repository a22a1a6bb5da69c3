"""``chargeline rules check|list``: validate rule files without touching the store.

Without a path they read the rules the deployment runs: ``<data_dir>/rules`` when it
holds rule files, else the shipped pack, and say which. ``cli`` holds the ``rules`` group;
the entry room mounts it."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from core.config import Settings, format_validation_error
from core.errors import ConfigError, RuleFileError
from rules.loader import describe, live_rule_paths, load_rules

cli = typer.Typer()
rules_app = typer.Typer(help="Governance rules as code (YAML).", no_args_is_help=True)
cli.add_typer(rules_app, name="rules")
_PATHS_HELP = "Rule files or folders (default: <data_dir>/rules, else the shipped pack)."


def _live_paths() -> list[Path]:
    # only data_dir is needed: no store, no secret (load_settings would resolve one)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    return live_rule_paths(settings.data_dir)


@rules_app.command("check")
def check(paths: list[Path] = typer.Argument(  # noqa: B008 - typer declares arguments so
        None, help=_PATHS_HELP)) -> None:
    """Validate rule files; print every problem as file:line and exit 5 on any."""
    targets = paths or _live_paths()
    try:
        ruleset = load_rules(targets)
    except RuleFileError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s); no rule file was loaded", err=True)
        raise typer.Exit(RuleFileError.exit_code) from None
    typer.echo(f"ok: {len(ruleset.rules)} rules in {len(ruleset.sources)} file(s)"
               + ("" if paths else f" in force ({', '.join(map(str, targets))})"))
    typer.echo(describe(ruleset))


@rules_app.command("list")
def list_rules(paths: list[Path] = typer.Argument(  # noqa: B008
        None, help=_PATHS_HELP)) -> None:
    """List rules: id, metric, scope, thresholds, owner."""
    targets = paths or _live_paths()
    try:
        ruleset = load_rules(targets)
    except RuleFileError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(RuleFileError.exit_code) from None
    for rule in ruleset.rules:
        warn = "-" if rule.warn is None else f"{rule.warn:g}"
        typer.echo(f"{rule.id:34} {rule.metric:36} by {','.join(rule.scope.by) or 'network':18}"
                   f" {rule.direction.value} warn {warn} fail {rule.fail:g}  {rule.owner}")
    typer.echo(describe(ruleset), err=True)
