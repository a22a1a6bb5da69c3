"""Imports point inward: the pure core never imports the edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = ("store", "collectors", "simulator", "app", "alerting", "metrics", "rules", "streamlit")
CORE_MODULES = ["model.py", "config.py", "errors.py", "phi.py", "metric_values.py"]


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_edge(module: str) -> None:
    assert not (_imported_roots(ROOT / "core" / module) & set(EDGES))
