"""Every table on every page reads as words: headers without snake_case, no raw ``None``
cells, every column sized to fit a 1440 px screen where a table is known to be wide."""

from __future__ import annotations

import json
import re

import pytest

from app.access import PAGES
from tests.app.conftest import signed_in
from tests.app.test_recall_page import LOT, _give_a_lot
from tests.app.test_revenue_page import seed_remittances

SNAKE = re.compile(r"[a-z0-9]_[a-z0-9]")
EMPTY_PAGES = ()


def _tables(path: str, params: dict[str, list[str]] | None = None):
    at = signed_in("admin").run()
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at, list(at.dataframe)


def _labels(df) -> dict[str, str]:
    """Each column's header as the browser shows it (its configured label, else its name)."""
    config = json.loads(df.proto.columns or "{}")
    out = {}
    for name in df.value.columns:
        entry = config.get(f"column:{name}") or config.get(name) or {}
        out[str(name)] = entry.get("label") or str(name)
    return out


@pytest.mark.parametrize("path", [p.path for p in PAGES])
def test_every_table_has_headers_in_words_and_no_raw_none(seeded_sqlite, path: str) -> None:
    params = None
    # the seeded estate has no remittances, and a recall page shows a table once asked
    if path == "views/revenue.py":
        seed_remittances(seeded_sqlite.engine, seeded_sqlite.truth.end)
    elif path == "views/recall.py":
        _give_a_lot(seeded_sqlite.engine)
        params = {"by": ["lot"], "value": [LOT]}
    _, tables = _tables(path, params)
    assert tables or path in EMPTY_PAGES, path
    for df in tables:
        labels = _labels(df)
        snake = {n: h for n, h in labels.items() if SNAKE.search(h)}
        assert not snake, (path, df.key, snake)
        shown = df.value
        if df.proto.placeholder:  # missing values are shown as this, not "None"
            continue
        for name in shown.columns:
            # without a placeholder a missing value reads "None", text or number alike
            raw = [v for v in shown[name] if not isinstance(v, list | tuple)
                   and (v is None or str(v) in ("None", "nan", "NaN", "<NA>"))]
            assert not raw, (path, df.key, name, raw[:3])


def test_collector_freshness_reads_in_words(seeded_sqlite) -> None:
    at, _ = _tables("views/interfaces.py")
    fresh = next(df for df in at.dataframe if "min_since_success" in df.value.columns)
    assert list(_labels(fresh).values()) == [
        "Health", "Source", "Last run", "Last error", "Since success", "Since newest record",
        "Runs", "Failed runs"]
    rows = {r["source"]: r for r in fresh.value.to_dict("records")}
    assert rows["erp"]["last_status"] == "error" and rows["erp"]["last_error"]
    for row in rows.values():
        assert row["last_error"] is not None
        for col in ("min_since_success", "min_since_newest_record"):
            assert re.fullmatch(r"\d+ min|\d+\.\d [hd]|never", row[col]), row[col]


# The main column is 978 px wide at 1440 px with the sidebar open, 944 px inside an
# expander; a selectable table's checkboxes take 36 px.
@pytest.mark.parametrize(("path", "column", "budget"), [
    ("views/interfaces.py", "queue_age_min", 944), ("views/alerts.py", "handling", 978 - 36),
    ("views/overview.py", "Margin", 978 - 36)])
def test_wide_tables_are_sized_to_fit_1440_px(seeded_sqlite, path: str, column: str,
                                              budget: int) -> None:
    """Every shown column has a width, and they add up to what a 1440 px screen shows
    with the sidebar open (the browser test measures the real thing)."""
    _, tables = _tables(path)
    table = next(df for df in tables if column in df.value.columns)
    config = json.loads(table.proto.columns)
    shown = list(table.proto.column_order) or [str(c) for c in table.value.columns]
    widths = {name: (config.get(name) or {}).get("width") for name in shown}
    assert all(isinstance(w, int) for w in widths.values()), widths
    assert sum(widths.values()) <= budget, widths
