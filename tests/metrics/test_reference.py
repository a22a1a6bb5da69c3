"""The metric reference (metrics/README.md, "Time, links and buckets") has a row for every
catalog metric: which time it uses, which links it needs and what it does without them,
and the one bucket its $ counts in. A metric added to the catalog without its row, or a
row naming a metric that no longer exists, fails here."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

from metrics.catalog import METRIC_NAMES

README = Path(__file__).resolve().parents[2] / "metrics" / "README.md"
HEADER = "| figure | time it uses | links it needs; without them | $ (one bucket) |"


def _rows() -> list[list[str]]:
    """The table's rows as cells (the header and its rule left out)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_every_row_says_its_time_its_links_and_its_bucket() -> None:
    rows = _rows()
    assert rows
    for cells in rows:
        assert len(cells) == 4 and all(cells), cells


def test_every_catalog_metric_has_exactly_one_row_and_every_row_names_metrics() -> None:
    patterns = [re.findall(r"`([a-z0-9_*]+)`", cells[0]) for cells in _rows()]
    for names in patterns:
        assert names, "a row names no metric"
        for name in names:
            assert any(fnmatchcase(m, name) for m in METRIC_NAMES), \
                f"{name!r} in metrics/README.md names no catalog metric"
    for metric in sorted(METRIC_NAMES):
        rows = [names for names in patterns if any(fnmatchcase(metric, n) for n in names)]
        assert len(rows) == 1, (
            f"{metric}: {len(rows)} rows in metrics/README.md 'Time, links and buckets'; "
            "give it one: the time it uses, the links it needs (and without them), its $")
