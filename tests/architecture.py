"""The house rules of the code, read from its imports (ast, nothing is imported to check).

The rooms, lowest floor first; a package imports only packages on a lower floor::

    0 core        the canonical model, config, errors, PHI tokens, keys: pure, no project import
    1 store       schema, engine, migrations, upserts, dialect SQL helpers
    2 collectors  sources -> canonical records          } peers: none of the three
    2 metrics     compute pass, read side, lineage      } imports another
    2 simulator   the demo estate                       }
    3 rules       governance rules as code
    4 alerting    alert states, policy, workflow, mail
    5 app         the Streamlit dashboard
    6 chargeline  the entry room: CLI root, post-collection pipeline, demo; nothing imports it

Data access: outside ``store``, only the named data modules build SQL or touch the schema's
tables; every other module may name a ``Engine``/``Connection`` type, catch a
``sqlalchemy.exc`` error or parse a URL. Imports of project packages sit at the top of a
module (plugins are loaded by name through importlib, which is no import statement), and
no module imports itself back through others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

FLOORS: dict[str, int] = {
    "core": 0, "store": 1, "collectors": 2, "metrics": 2, "simulator": 2, "rules": 3,
    "alerting": 4, "app": 5, "chargeline": 6,
}
DATA_MODULES = ("store.*", "metrics.compute.*", "metrics.read.*", "metrics.lineage.data",
                "collectors.data.*", "alerting.data.*", "app.data.*")
# what any module may take from SQLAlchemy: connection types, errors, URL parsing
SQLALCHEMY_ANYWHERE = {"sqlalchemy": {"Engine", "Connection"},
                       "sqlalchemy.engine": {"Engine", "Connection", "URL", "make_url"}}
SQLALCHEMY_ANY_NAME = ("sqlalchemy.exc",)
STORE_TABLES = ("store.schema", "store.schema_*", "store.upsert", "store.sqlfn")
SKIPPED = ("store/migrations/versions/*",)  # Alembic scripts: the store's own


@dataclass(frozen=True)
class Import:
    """One imported module (``from a.b import c`` gives ``a.b.c`` when that is a module,
    else ``a.b``), where it is imported, and from which names."""

    module: str  # the importing module
    target: str
    names: tuple[str, ...]
    line: int
    late: bool  # inside a function: hidden from a reader of the module's top


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path) -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in FLOORS:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if not any(fnmatch(rel, pattern) for pattern in SKIPPED):
                found[module_name(root, path)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, late: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = late or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                       | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, (), child.lineno, late)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                names = tuple(a.name for a in child.names)
                subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
                for target in subs or [base]:
                    yield Import(module, target, names, child.lineno, late)
            yield from walk(child, inner)

    yield from walk(tree, False)


def _root(name: str) -> str:
    return name.split(".")[0]


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name == p or fnmatch(name, p) or (p.endswith(".*") and name == p[:-2])
               for p in patterns)


def violations(root: Path) -> list[str]:
    """Every broken rule, one line each: the file and line, the import, the rule."""
    modules = project_modules(root)
    known = set(modules)
    found: list[str] = []
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        where = path.relative_to(root).as_posix()
        for imp in imports_of(module, path, known):
            target_root, own = _root(imp.target), _root(module)
            text = f"{where}:{imp.line}: import of {imp.target}"
            if target_root in FLOORS:
                edges[module].add(imp.target if imp.target in known else target_root)
                if imp.late:
                    found.append(f"{text} inside a function — project imports go at the "
                                 "top of the module (hidden dependencies)")
                if target_root != own and FLOORS[target_root] >= FLOORS[own]:
                    found.append(
                        f"{text}: {own} (floor {FLOORS[own]}) may import only lower floors;"
                        f" {target_root} is floor {FLOORS[target_root]}"
                        + (" — a peer" if FLOORS[target_root] == FLOORS[own] else ""))
                if (_matches(imp.target, STORE_TABLES) and own != "store"
                        and not _matches(module, DATA_MODULES)):
                    found.append(f"{text}: the store's tables are used only by data modules "
                                 f"({', '.join(DATA_MODULES)}) — move this SQL into one")
            elif target_root == "sqlalchemy" and not _matches(module, DATA_MODULES):
                allowed = SQLALCHEMY_ANYWHERE.get(imp.target)
                if imp.target in SQLALCHEMY_ANY_NAME or (
                        allowed is not None and imp.names and set(imp.names) <= allowed):
                    continue
                found.append(f"{text} ({', '.join(imp.names) or 'the package'}): only data "
                             "modules build SQL; elsewhere take Engine/Connection, "
                             "sqlalchemy.exc or make_url")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(edges)]
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [_one_cycle(sorted(g), edges) for g in groups]


def _one_cycle(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A readable path that leaves ``group[0]`` and comes back to it inside the group."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [*group, start]
