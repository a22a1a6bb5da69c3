"""The rules in force, their alert states and history, and validation of an edited rule
file before anyone uses it (no Streamlit here). Loading goes through ``rules.loader``, the
same code the evaluator runs, so what validates here loads there."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from core.errors import RuleFileError
from rules.loader import RuleSet, load_rules
from rules.model import format_duration
from store.schema_alerting import alert_instances, alert_state_history, rule_file_versions

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


def states_by_rule(conn: Connection) -> dict[str, dict[str, int]]:
    """Per rule id: how many of its alert instances are in each state."""
    out: dict[str, dict[str, int]] = {}
    rows = conn.execute(select(alert_instances.c.rule_id, alert_instances.c.state, func.count())
                        .group_by(alert_instances.c.rule_id, alert_instances.c.state))
    for rule_id, state, n in rows:
        out.setdefault(rule_id, {})[state] = int(n)
    return out


def versions(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The rule-file versions the evaluator loaded, newest first."""
    v = rule_file_versions.c
    rows = conn.execute(select(v.path, v.sha256, v.rule_ids, v.loaded_at)
                        .order_by(v.loaded_at.desc()).limit(limit)).mappings()
    return [{**r, "sha256": r["sha256"][:12]} for r in rows]


def history(conn: Connection, rule_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """State changes of one rule's instances, newest first."""
    h = alert_state_history.c
    rows = conn.execute(select(h.at, h.fingerprint, h.from_state, h.to_state, h.level, h.value,
                               h.reason)
                        .where(h.rule_id == rule_id).order_by(h.at.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]
