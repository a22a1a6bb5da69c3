"""The dashboard's own floors (app/__init__.py): pages read through ``app.queries`` and
write through ``app.actions``, never ``app.data`` or SQL; ``app.shaping`` is pure; ``app.data``
holds the SQL and no Streamlit. The project-wide rules are tests/architecture.py's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

# module prefixes each room must not import
FORBIDDEN = {
    "views": ("app.data", "sqlalchemy", "store"),
    "shaping": ("streamlit", "sqlalchemy", "store", "app.data", "app.queries", "app.actions",
                "app.resources", "app.session", "app.ui", "app.tables", "app.charts",
                "app.views"),
    "data": ("streamlit", "app.queries", "app.actions", "app.resources", "app.session",
             "app.ui", "app.tables", "app.charts", "app.views"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from app import data`` names the module ``app.data``
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_of_the_dashboard_imports_only_what_it_may(room: str) -> None:
    broken = [f"app/{room}/{path.name}:{line}: imports {name}"
              for path in sorted((APP / room).glob("*.py"))
              for line, name in _imports(path)
              if any(name == p or name.startswith(p + ".") for p in FORBIDDEN[room])]
    assert not broken, "\n".join(broken)
