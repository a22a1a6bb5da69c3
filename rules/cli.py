"""``chargeline rules check|list``: validate rule files without touching the store."""

from __future__ import annotations

from pathlib import Path

import typer

from chargeline.cli import app
from chargeline.errors import RuleFileError
from rules.loader import PACK_DIR, load_rules

rules_app = typer.Typer(help="Governance rules as code (YAML).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def check(paths: list[Path] = typer.Argument(  # noqa: B008 - typer declares arguments so
        None, help="Rule files or folders (default: the shipped pack).")) -> None:
    """Validate rule files; print every problem as file:line and exit 5 on any."""
    targets = paths or [PACK_DIR]
    try:
        ruleset = load_rules(targets)
    except RuleFileError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s); no rule file was loaded", err=True)
        raise typer.Exit(RuleFileError.exit_code) from None
    typer.echo(f"ok: {len(ruleset.rules)} rules in {len(ruleset.sources)} file(s)")


@rules_app.command("list")
def list_rules(paths: list[Path] = typer.Argument(  # noqa: B008
        None, help="Rule files or folders (default: the shipped pack).")) -> None:
    """List rules: id, metric, scope, thresholds, owner."""
    for rule in load_rules(paths or [PACK_DIR]).rules:
        warn = "-" if rule.warn is None else f"{rule.warn:g}"
        typer.echo(f"{rule.id:34} {rule.metric:36} by {','.join(rule.scope.by) or 'network':18}"
                   f" {rule.direction.value} warn {warn} fail {rule.fail:g}  {rule.owner}")
