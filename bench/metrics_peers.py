"""The peers and the floor of ``bench/metrics.py``: the same duplicate and mapping checks in
Great Expectations 1.x (on the SQLite store file, and on pandas DataFrames), pandas, plain
SQL on the store file, and DuckDB over DataFrames (the floor), on the same rows.

The checks are Chargeline's definitions as far as each tool can say them:

- duplicate charge: compound-unique over each duplicate business key of the *live* charges
  (posted, not a credit, not reversed): ``usage_id``; ``(control_id, cdm_code, usage_id)``;
  ``(encounter_id, cdm_code, service_date, serial)``. GX cannot apply the duplicate window
  or count extra units; it counts every member of a group.
- failed mapping: ``usage_events.item_ref`` in the set of item ids (value-in-set).

Each ``peer_*`` function does one warm-up, then returns the median of ``repeat`` timed runs
(wall clock) per check and in total, with the findings so the tools can be compared.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

LIVE = ("SELECT {cols} FROM charges WHERE status = 'posted' AND reverses_charge_id = '' "
        "AND charge_id NOT IN (SELECT reverses_charge_id FROM charges "
        "WHERE reverses_charge_id != '')")
DUP_KEYS: dict[str, tuple[str, ...]] = {
    "usage_id": ("usage_id",),
    "control_id": ("control_id", "cdm_code", "usage_id"),
    "serial": ("encounter_id", "cdm_code", "service_date", "serial"),
}
CHARGE_COLS = ("charge_id", "status", "reverses_charge_id", "usage_id", "control_id",
               "cdm_code", "encounter_id", "service_date", "serial")


def live_query(key: str) -> str:
    """SQL of the live charges that carry ``key``: the rows one duplicate check scans."""
    cols = DUP_KEYS[key]
    return LIVE.format(cols=", ".join(cols)) + f" AND {cols[0]} != ''"


def _timed(checks: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Any]:
    for fn in checks.values():  # warm-up
        fn()
    per: dict[str, list[float]] = {name: [] for name in checks}
    totals, found = [], {}
    for _ in range(repeat):
        run_total = 0.0
        for name, fn in checks.items():
            t = time.perf_counter()
            found[name] = fn()
            per[name].append(time.perf_counter() - t)
            run_total += per[name][-1]
        totals.append(run_total)
    return {"seconds": statistics.median(totals),
            "checks": {n: statistics.median(v) for n, v in per.items()}, "found": found}


def load_frames(db_path: str) -> dict[str, Any]:
    """The rows the checks read, as pandas DataFrames (setup, not timed)."""
    import pandas as pd

    with sqlite3.connect(db_path) as conn:
        return {
            "charges": pd.read_sql(f"SELECT {', '.join(CHARGE_COLS)} FROM charges", conn),
            "usage_events": pd.read_sql("SELECT usage_id, item_ref FROM usage_events", conn),
            "items": pd.read_sql("SELECT item_id FROM items", conn),
        }


def live_frames(c: Any) -> dict[str, Any]:
    """Per duplicate key, the live charges that carry it (``live_query`` in pandas)."""
    reversed_ids = set(c.reverses_charge_id[c.reverses_charge_id != ""])
    live = c[(c.status == "posted") & (c.reverses_charge_id == "")
             & ~c.charge_id.isin(reversed_ids)]
    return {f"live_{k}": live[live[cols[0]] != ""][list(cols)].reset_index(drop=True)
            for k, cols in DUP_KEYS.items()}


def peer_duckdb(db_path: str, repeat: int) -> dict[str, Any]:
    """The floor: DuckDB group-by and anti-join scanning the DataFrames."""
    import duckdb

    frames = load_frames(db_path)
    con = duckdb.connect()
    for name, frame in {**frames, **live_frames(frames["charges"])}.items():
        con.register(name, frame)

    def dup(key: str) -> Callable[[], Any]:
        sql = (f"SELECT count(*), coalesce(sum(n) - count(*), 0) FROM (SELECT count(*) n "
               f"FROM live_{key} GROUP BY {', '.join(DUP_KEYS[key])} HAVING count(*) > 1)")
        return lambda: con.execute(sql).fetchone()

    unmapped = ("SELECT count(*) FROM usage_events u LEFT JOIN items i "
                "ON i.item_id = u.item_ref WHERE i.item_id IS NULL")
    checks: dict[str, Callable[[], Any]] = {f"dup_{k}": dup(k) for k in DUP_KEYS}
    checks["unmapped"] = lambda: con.execute(unmapped).fetchone()[0]
    return _timed(checks, repeat)


def peer_pandas(db_path: str, repeat: int) -> dict[str, Any]:
    frames = load_frames(db_path)
    live, u = live_frames(frames["charges"]), frames["usage_events"]
    known = set(frames["items"].item_id)

    def dup(key: str) -> Callable[[], Any]:
        frame, cols = live[f"live_{key}"], list(DUP_KEYS[key])
        return lambda: int(frame.duplicated(subset=cols).sum())

    checks: dict[str, Callable[[], Any]] = {f"dup_{k}": dup(k) for k in DUP_KEYS}
    checks["unmapped"] = lambda: int((~u.item_ref.isin(known)).sum())
    return _timed(checks, repeat)


def peer_sqlite_sql(db_path: str, repeat: int) -> dict[str, Any]:
    """Plain SQL on the store file (its own indexes, no extra ones): GROUP BY per key and
    an anti-join, the 'plain-SQL floor' of perf-anchors.md."""
    conn = sqlite3.connect(db_path)

    def dup(key: str) -> Callable[[], Any]:
        sql = (f"SELECT count(*), coalesce(sum(n) - count(*), 0) FROM (SELECT count(*) n "
               f"FROM ({live_query(key)}) GROUP BY {', '.join(DUP_KEYS[key])} "
               "HAVING count(*) > 1)")
        return lambda: conn.execute(sql).fetchone()

    unmapped = ("SELECT count(*) FROM usage_events u LEFT JOIN items i "
                "ON i.item_id = u.item_ref WHERE i.item_id IS NULL")
    checks: dict[str, Callable[[], Any]] = {f"dup_{k}": dup(k) for k in DUP_KEYS}
    checks["unmapped"] = lambda: conn.execute(unmapped).fetchone()[0]
    try:
        return _timed(checks, repeat)
    finally:
        conn.close()


def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _gx_checks(batches: dict[str, Any], items: list[str]) -> dict[str, Callable[[], Any]]:
    import great_expectations.expectations as gxe

    def validate(batch: Any, expectation: Any) -> Callable[[], Any]:
        return lambda: batch.validate(expectation, result_format="BASIC").result.get(
            "unexpected_count")

    def unique(cols: tuple[str, ...]) -> Any:
        if len(cols) == 1:  # GX wants two or more columns for the compound check
            return gxe.ExpectColumnValuesToBeUnique(column=cols[0])
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(cols))

    checks = {f"dup_{k}": validate(batches[k], unique(cols)) for k, cols in DUP_KEYS.items()}
    checks["unmapped"] = validate(batches["usage"], gxe.ExpectColumnValuesToBeInSet(
        column="item_ref", value_set=items))
    return checks


def peer_gx_sqlite(db_path: str, repeat: int) -> dict[str, Any]:
    """GX 1.x (SqlAlchemyExecutionEngine) on the store file; setup is not timed."""
    setup = time.perf_counter()
    with sqlite3.connect(db_path) as conn:
        # A query asset re-runs the filter inside GX's join-back (quadratic here): give GX
        # the live charges as tables, as the frames are given to the other tools.
        for key in DUP_KEYS:
            conn.execute(f"DROP TABLE IF EXISTS bench_live_{key}")
            conn.execute(f"CREATE TABLE bench_live_{key} AS {live_query(key)}")
        items = [r[0] for r in conn.execute("SELECT item_id FROM items")]
    try:
        ctx = _gx_context()
        ds = ctx.data_sources.add_sqlite("store", connection_string=f"sqlite:///{db_path}")
        batches = {k: ds.add_table_asset(f"live_{k}", table_name=f"bench_live_{k}")
                   .add_batch_definition_whole_table("all").get_batch() for k in DUP_KEYS}
        batches["usage"] = ds.add_table_asset("usage", table_name="usage_events") \
            .add_batch_definition_whole_table("all").get_batch()
        setup = time.perf_counter() - setup
        return {**_timed(_gx_checks(batches, items), repeat), "setup_seconds": setup}
    finally:
        with sqlite3.connect(db_path) as conn:
            for key in DUP_KEYS:
                conn.execute(f"DROP TABLE IF EXISTS bench_live_{key}")


def peer_gx_pandas(db_path: str, repeat: int) -> dict[str, Any]:
    """GX 1.x on DataFrames; get_batch is setup, not timed (as in the anchors)."""
    frames = load_frames(db_path)
    setup = time.perf_counter()
    ds = _gx_context().data_sources.add_pandas("frames")
    parts = {k.removeprefix("live_"): f for k, f in live_frames(frames["charges"]).items()}
    parts["usage"] = frames["usage_events"]
    batches = {k: ds.add_dataframe_asset(k).add_batch_definition_whole_dataframe("all")
               .get_batch(batch_parameters={"dataframe": f}) for k, f in parts.items()}
    setup = time.perf_counter() - setup
    out = _timed(_gx_checks(batches, frames["items"].item_id.tolist()), repeat)
    return {**out, "setup_seconds": setup}


PEERS: dict[str, Callable[[str, int], dict[str, Any]]] = {
    "duckdb": peer_duckdb, "pandas": peer_pandas, "sqlite_sql": peer_sqlite_sql,
    "gx_pandas": peer_gx_pandas, "gx_sqlite": peer_gx_sqlite,
}
