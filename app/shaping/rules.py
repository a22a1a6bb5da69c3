"""The rules in force as a page shows them, and validation of an edited rule file before
anyone uses it (no Streamlit, no SQL here: their alert states and history are read by
``app.data.rules``). Loading goes through ``rules.loader``, the same code the evaluator
runs, so what validates here loads there."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.errors import RuleFileError
from rules.loader import RuleSet, load_rules
from rules.model import format_duration

RULE_COLUMNS = ["id", "name", "metric", "scope", "window", "warn", "fail", "direction",
                "severity", "owner", "file"]


def load_active(paths: list[Path]) -> tuple[RuleSet, list[str]]:
    """The rules of ``paths`` and no problems, or an empty set and every problem."""
    try:
        return load_rules(paths), []
    except RuleFileError as exc:
        return RuleSet(), list(exc.problems)


def rule_rows(ruleset: RuleSet) -> list[dict[str, Any]]:
    """One row per rule for the table."""
    files = {rid: Path(src.path).name for src in ruleset.sources for rid in src.rule_ids}
    return [{
        "id": r.id, "name": r.name, "metric": r.metric,
        "scope": ", ".join(r.scope.by) + (f" where {dict(r.scope.match)}" if r.scope.match else ""),
        "window": format_duration(r.window), "warn": r.warn, "fail": r.fail,
        "direction": r.direction.value, "severity": r.severity.value, "owner": r.owner,
        "file": files.get(r.id, ""),
    } for r in ruleset.rules]


def validate_text(text: str, file_name: str) -> tuple[list[str], int]:
    """Problems of an edited rule file (``file:line: ...`` each) and how many rules it holds.

    The text is written to a private temporary folder under its own file name, loaded with
    the real loader, and the temporary path is replaced by the name in every message."""
    name = Path(file_name).name or "rules.yaml"
    if not name.endswith((".yaml", ".yml")):
        name += ".yaml"
    with tempfile.TemporaryDirectory(prefix="chargeline-rules-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            ruleset = load_rules([path])
        except RuleFileError as exc:
            return [p.replace(str(path), name) for p in exc.problems], 0
    return [], len(ruleset.rules)
