"""Loading rule files: YAML -> frozen ``Rule`` objects, or every problem at once.

A file is refused whole: one bad rule refuses its file, one refused file refuses the load,
and a ``RuleRegistry`` keeps the rules that were running. Each problem reads
``file:line: key path — problem — example fix``; lines come from the YAML nodes.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import RuleFileError
from metrics.catalog import CATALOG
from rules.model import (
    SCOPE_KEYS,
    FacilityHours,
    OffHours,
    Parameters,
    Rule,
    RuleFile,
    Scope,
    WorkingHours,
)

PACK_DIR = Path(__file__).with_name("pack")

FIXES: dict[str, str] = {
    "rules": "rules:\n  - id: nack-rate ...",
    "id": "id: implant-charge-latency",
    "name": "name: Implant charge latency",
    "window": "window: 1h",
    "pending": "pending: 15m",
    "keep_firing": "keep_firing: 30m",
    "warn": "warn: 90",
    "fail": "fail: 120",
    "direction": "direction: above (or below)",
    "severity": "severity: warning (or info, critical)",
    "stewards": "stewards: [rc-stewards@example.org]",
    "owner": "owner: revenue-cycle",
    "runbook": "runbook: https://wiki.example.org/runbooks/nack-rate",
    "by": "by: [facility, channel]",
    "match": "match: {item_class: IMPLANT}",
    "field": "field: amount (or value)",
    "min_denominator": "min_denominator: 20",
    "description": "description: What the steward should check first",
    "tags": "tags: [outage]",
    "unit": "unit: minutes",
    "scope": "scope: {by: [facility]}",
    "parameters": "parameters: {field: amount}",
    "hours": "hours: {working: 'Mon-Fri 07:00-19:00', tz: America/New_York, "
             "off_hours: {fail: 240, window: 4h}}",
    "working": "working: 'Mon-Fri 07:00-19:00, Sat 08:00-12:00'",
    "tz": "tz: America/New_York",
    "off_hours": "off_hours: {warn: 60, fail: 240, window: 4h}",
    "facilities": "facilities: {FAC02: {tz: America/Chicago}}",
}
_MODEL_AT: dict[str, type[BaseModel]] = {"scope": Scope, "parameters": Parameters,
                                         "hours": WorkingHours, "off_hours": OffHours}


@dataclass(frozen=True)
class RuleSource:
    """One loaded rule file: its path, content hash and text (rules are versioned by file)."""

    path: str
    sha256: str
    text: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    """The rules of one successful load, in file order."""

    rules: tuple[Rule, ...] = ()
    sources: tuple[RuleSource, ...] = ()
    by_id: dict[str, Rule] = field(default_factory=dict)


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
          problems: list[tuple[tuple[Any, ...], str, str]]) -> None:
    """Record the line of every key path; note keys repeated in one mapping."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            if key in seen:
                lines[(*child, "#dup")] = key_node.start_mark.line + 1
                problems.append(((*child, "#dup"), f"key {key!r} appears twice in one block",
                                 "keep one of them"))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, problems)


def format_path(path: Sequence[Any]) -> str:
    """``("rules", 0, "scope", "by")`` -> ``rules[0].scope.by``."""
    text = ""
    for part in path:
        if part == "#dup":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"


def _line_of(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return 1


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    parent = path[-2] if len(path) >= 2 and isinstance(path[-2], str) else None
    model: type[BaseModel] = _MODEL_AT.get(parent or "", Rule)
    if len(path) == 1:
        model = RuleFile
    elif len(path) >= 3 and path[-3] == "facilities":
        model = FacilityHours
    return list(model.model_fields)


def _describe(err: Any, path: tuple[Any, ...]) -> tuple[str, str]:
    """A pydantic error as (problem, example fix)."""
    kind, last = err["type"], path[-1] if path else ""
    fix = FIXES.get(last, "") if isinstance(last, str) else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path)
        close = difflib.get_close_matches(str(last), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {last!r}", f"{hint}remove it; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"required key {last!r} is missing", f"add {fix or last + ': ...'}"
    message = err["msg"].removeprefix("Value error, ")
    if kind.endswith(("_type", "_parsing")) or kind in ("enum", "literal_error"):
        message = f"{message} (got {err['input']!r})"
    if kind == "value_error" and last == "fail" and "must be" in message:
        return message, "swap warn and fail, or set direction: below (smaller is worse)"
    if kind == "value_error" and last == "hours" and "off_hours: fail" in message:
        return message, "swap warn and fail under off_hours (or set them both there)"
    return message, f"e.g. {fix}" if fix else "see rules/pack/*.yaml for examples"


def catalog_metrics() -> dict[str, tuple[frozenset[str], tuple[str, ...]]]:
    """Metric name -> (scope keys, parameters) from ``metrics.catalog``."""
    return {name: (spec.scopes, spec.params) for name, spec in CATALOG.items()}


def _catalog_problems(rule: Rule, base: tuple[Any, ...], path: Path,
                      lines: dict[tuple[Any, ...], int],
                      catalog: dict[str, tuple[frozenset[str], tuple[str, ...]]]) -> list[str]:
    """Scope keys and parameters the catalog says the rule's metric does not take."""
    if rule.metric not in catalog:
        return []
    scopes, params = catalog[rule.metric]
    out = []
    for key in (*rule.scope.by, *rule.scope.match):
        if key not in scopes:
            where = (*base, "scope")
            out.append(f"{path}:{_line_of(where, lines)}: {format_path(where)} — metric "
                       f"{rule.metric!r} cannot be split by {key!r} — e.g. by: "
                       f"[{', '.join(sorted(scopes))}]")
    for key in rule.parameters.args:
        if key not in params:
            where = (*base, "parameters", key)
            allowed = ", ".join(params) if params else "none besides field and min_denominator"
            out.append(f"{path}:{_line_of(where, lines)}: {format_path(where)} — metric "
                       f"{rule.metric!r} takes no parameter {key!r} — allowed: {allowed}")
    return out


def _file_problems(path: Path, text: str, known_metrics: frozenset[str] | None,
                   seen_ids: dict[str, str]) -> tuple[list[str], list[Rule]]:
    """Every problem of one file (``file:line: ...``) and, when there are none, its rules."""
    problems: list[str] = []
    catalog = catalog_metrics() if known_metrics is None else None
    if catalog is not None:
        known_metrics = frozenset(catalog)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, max(text.count("\n"), 1)) if mark is not None else 1
        problem = exc.problem or str(exc)
        return [f"{path}:{line}: (file) — YAML syntax error: {problem} — check the "
                "indentation and quoting on this line and the one above"], []
    lines: dict[tuple[Any, ...], int] = {}
    found: list[tuple[tuple[Any, ...], str, str]] = []
    if root is not None:
        _walk(root, (), lines, found)
    for key_path, problem, fix in found:
        problems.append(f"{path}:{lines[key_path]}: {format_path(key_path)} — {problem} — {fix}")
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        problems.append(f"{path}:1: rules — the file must be a mapping with a list under "
                        "'rules' — e.g. rules:\\n  - id: nack-rate ...")
        return problems, []
    for key in data:
        if key != "rules":
            problems.append(f"{path}:{lines[(key,)]}: {key} — unknown key {key!r} — remove it; "
                            "a rule file holds only 'rules'")
    rules: list[Rule] = []
    for index, raw in enumerate(data["rules"]):
        base = ("rules", index)
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                key_path = (*base, *err["loc"])
                problem, fix = _describe(err, key_path)
                problems.append(f"{path}:{_line_of(key_path, lines)}: {format_path(key_path)} — "
                                f"{problem} — {fix}")
            continue
        if catalog is not None:
            problems.extend(_catalog_problems(rule, base, path, lines, catalog))
        rules.append(rule)
    for index, raw in enumerate(data["rules"]):
        # Checked on the raw block so they are reported even when the block has other errors.
        base = ("rules", index)
        raw = raw if isinstance(raw, dict) else {}
        metric, rule_id = raw.get("metric"), raw.get("id")
        if known_metrics is not None and isinstance(metric, str) and metric not in known_metrics:
            close = difflib.get_close_matches(metric, sorted(known_metrics), n=1)
            example = close[0] if close else min(known_metrics, default="...")
            problems.append(f"{path}:{_line_of((*base, 'metric'), lines)}: "
                            f"{format_path((*base, 'metric'))} — unknown metric {metric!r} — "
                            f"e.g. metric: {example}")
        if not isinstance(rule_id, str):
            continue
        where = f"{path}:{_line_of((*base, 'id'), lines)}"
        if rule_id in seen_ids:
            problems.append(f"{where}: {format_path((*base, 'id'))} — duplicate rule id "
                            f"{rule_id!r}, first defined at {seen_ids[rule_id]} — "
                            f"give it another id, e.g. id: {rule_id}-2")
        else:
            seen_ids[rule_id] = where
    prefix = len(f"{path}:")  # a path may hold ':' itself, so cut by length, not by split
    problems.sort(key=lambda p: int(p[prefix:].split(":", 1)[0]))
    return problems, rules


RULE_SUFFIXES = (".yaml", ".yml")


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to their ``*.yaml``/``*.yml`` files (sorted); keep files as given."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in RULE_SUFFIXES))
        else:
            files.append(path)
    return files


def has_rule_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix in RULE_SUFFIXES for p in folder.iterdir())


def live_rule_paths(data_dir: str | Path) -> list[Path]:
    """The rules a deployment runs: ``<data_dir>/rules`` when it holds rule files, else
    the shipped pack."""
    site = Path(data_dir) / "rules"
    return [site] if has_rule_files(site) else [PACK_DIR]


def _empty_folders(paths: Iterable[str | Path]) -> list[str]:
    """A folder given to check that holds no rule file would check nothing: refused."""
    return [f"{path}:1: (folder) — holds no rule file (*.yaml, *.yml), so nothing was "
            f"checked — name the rule folder, e.g. {PACK_DIR} (the shipped pack) or "
            "<data_dir>/rules" for path in map(Path, paths)
            if path.is_dir() and not has_rule_files(path)]


def load_rules(paths: Iterable[str | Path],
               known_metrics: frozenset[str] | None = None) -> RuleSet:
    """Load every rule file, or raise ``RuleFileError`` holding every problem of every file.
    A folder without rule files, and a load that yields no rule at all (a lone
    ``rules: []`` would silently replace the shipped pack), are problems too."""
    paths = list(paths)
    problems = _empty_folders(paths)
    texts: list[tuple[Path, str]] = []
    for path in rule_files(paths):
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}:1: (file) — cannot read: {exc} — check the path exists "
                            "and is UTF-8 text")
    return _from_texts(texts, known_metrics, problems)


def rules_from_texts(texts: Sequence[tuple[str, str]],
                     known_metrics: frozenset[str] | None = None) -> RuleSet:
    """The rule set of file contents kept elsewhere (the store's last good set), checked
    as a load from files is."""
    return _from_texts([(Path(p), t) for p, t in texts], known_metrics, [])


def _from_texts(texts: Sequence[tuple[Path, str]], known_metrics: frozenset[str] | None,
                problems: list[str]) -> RuleSet:
    rules: list[Rule] = []
    sources: list[RuleSource] = []
    seen_ids: dict[str, str] = {}
    for path, text in texts:
        file_problems, file_rules = _file_problems(path, text, known_metrics, seen_ids)
        problems.extend(file_problems)
        rules.extend(file_rules)
        sources.append(RuleSource(str(path), hashlib.sha256(text.encode()).hexdigest(), text,
                                  tuple(r.id for r in file_rules)))
    if not problems and not rules and sources:
        problems.append(f"{sources[0].path}:1: rules — no rule in "
                        f"{', '.join(s.path for s in sources)}: alerting would be off "
                        "(rule files in <data_dir>/rules replace the shipped pack) — add "
                        f"rules, e.g. copy {PACK_DIR}/*.yaml there, or remove the file(s)")
    if problems:
        raise RuleFileError(problems)
    return RuleSet(tuple(rules), tuple(sources), {r.id: r for r in rules})


def describe(ruleset: RuleSet) -> str:
    """``14 rules from 3 file(s): a.yaml (5), ...`` for logs and the CLI."""
    files = ", ".join(f"{s.path} ({len(s.rule_ids)})" for s in ruleset.sources)
    return f"{len(ruleset.rules)} rules from {len(ruleset.sources)} file(s): {files}"


class RuleRegistry:
    """The rules in force; a refused reload leaves them running."""

    def __init__(self, ruleset: RuleSet | None = None) -> None:
        self.current = ruleset or RuleSet()
        self.last_problems: list[str] = []

    def reload(self, paths: Iterable[str | Path],
               known_metrics: frozenset[str] | None = None) -> list[str]:
        """Swap in the rules of ``paths``; on errors keep the old rules and return the problems."""
        try:
            self.current = load_rules(paths, known_metrics)
        except RuleFileError as exc:
            self.last_problems = exc.problems
            return exc.problems
        self.last_problems = []
        return []


__all__ = ["PACK_DIR", "SCOPE_KEYS", "RuleRegistry", "RuleSet", "RuleSource", "describe",
           "live_rule_paths", "load_rules", "rules_from_texts"]
