"""``python -m bench``: list the benchmarks; ``python -m bench NAME [ARGS...]``: run one.

A benchmark is a module ``bench/NAME.py`` defining ``main(argv: list[str] | None) -> int``
(the first paragraph of its docstring is the summary shown in the list). Helper modules without
``main`` (e.g. ``bench/datagen.py``) are not listed.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).parent


def benchmarks() -> dict[str, str]:
    """Name -> one-line summary of every module here that defines ``main``."""
    found: dict[str, str] = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            first = (ast.get_docstring(tree) or "").strip().split("\n\n")[0]
            summary = " ".join(first.split())
            found[path.stem] = summary if len(summary) <= 100 else summary[:97] + "..."
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    known = benchmarks()
    if not args or args[0] in ("-h", "--help", "list"):
        print("usage: python -m bench NAME [options]   (python -m bench NAME --help)\n")
        for name, summary in known.items():
            print(f"  {name:<10} {summary}")
        return 0
    name, rest = args[0], args[1:]
    if name not in known:
        print(f"no benchmark {name!r}; known: {', '.join(known) or 'none'}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
