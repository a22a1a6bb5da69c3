"""The code keeps its house rules (tests/architecture.py), and the check itself can fail:
each rule is broken once in a small tree of its own and must be named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture import FLOORS, cycles, violations

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_keeps_its_house_rules() -> None:
    found = violations(ROOT)
    assert not found, "\n".join(found)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in FLOORS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('"""A room."""\n')
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


CLEAN = {
    "core/model.py": "from dataclasses import dataclass\n",
    "store/schema.py": "from sqlalchemy import Table\nfrom core.model import dataclass\n",
    "metrics/compute/__init__.py": "",
    "metrics/compute/stage.py": "from sqlalchemy import select\nfrom store.schema import Table\n",
    "metrics/report.py": ("from sqlalchemy import Engine\n"
                          "from sqlalchemy.exc import OperationalError\n"),
    "alerting/service.py": "from metrics.report import Engine\nfrom rules import x\n",
    "chargeline/cli.py": "from app import x\nfrom alerting.service import Engine\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert violations(_tree(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("metrics/report.py", "from collectors import x\n",
     "metrics/report.py:1: import of collectors: metrics (floor 2) may import only lower "
     "floors; collectors is floor 2 — a peer"),
    ("store/engine.py", "import app.main\n",
     "store/engine.py:1: import of app.main: store (floor 1) may import only lower floors; "
     "app is floor 5"),
    ("collectors/cli.py", "from chargeline.cli import app\n",
     "collectors/cli.py:1: import of chargeline.cli: collectors (floor 2)"),
    ("alerting/service.py", "def run():\n    from metrics.report import Engine\n",
     "alerting/service.py:2: import of metrics.report inside a function"),
    ("app/views.py", "from sqlalchemy import select\n",
     "app/views.py:1: import of sqlalchemy (select): only data modules build SQL"),
    ("app/views.py", "import sqlalchemy\n",
     "app/views.py:1: import of sqlalchemy (the package): only data modules build SQL"),
    ("rules/evaluate.py", "from store.schema import Table\n",
     "rules/evaluate.py:1: import of store.schema: the store's tables are used only by "
     "data modules"),
    ("core/phi.py", "from store.engine import x\n",
     "core/phi.py:1: import of store.engine: core (floor 0)"),
])
def test_each_broken_rule_is_named_with_its_place(tmp_path: Path, name: str, text: str,
                                                  expected: str) -> None:
    found = violations(_tree(tmp_path, {**CLEAN, name: text}))
    assert any(line.startswith(expected) for line in found), found


def test_an_import_cycle_is_named(tmp_path: Path) -> None:
    files = {**CLEAN, "metrics/lineage.py": "from metrics.lineage_store import x\n",
             "metrics/lineage_store.py": "from metrics.lineage import Graph\n"}
    assert "import cycle: metrics.lineage -> metrics.lineage_store -> metrics.lineage" in (
        violations(_tree(tmp_path, files)))


def test_cycles_finds_one_cycle_per_tangle_and_none_in_a_chain() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    found = cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}})
    assert sorted(found) == [["a", "b", "c", "a"], ["d", "d"]]
