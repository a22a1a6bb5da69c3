"""Dashboard pages benchmark: the script time of every page on a store of 1M usage events,
cold (caches cleared) and warm, p95 over repeated AppTest runs; goal p95 <= 1 s.

Run (from the repository root)::

    .venv/bin/python -m bench pages --rows 1000000 --backend sqlite,postgresql
    .venv/bin/python -m bench pages --rows 20000 --repeat 5        # a quick check

Per backend it loads a store with ``bench.datagen.generate`` (1M usage events ≈ 7.8M rows
with messages, charges, issues, claims, remittances, feeds), runs what follows a collection pass
(``chargeline.pipeline.after_collection(full=True)``: metrics, rule evaluation, alerts)
and adds one user per role. Then each page runs through ``streamlit.testing.v1.AppTest``
— the real entry script, navigation, sign-in check and page, in process, no browser —
``--repeat`` times with every Streamlit cache cleared first (*cold*: every query hits the
store) and ``--repeat`` times as they are (*warm*: what the next visitor within the cache
TTL gets). The drill-down runs as a KPI's "Records" link opens it (a week's problems) and
bare (every due usage event counted); the lineage page with a transaction trace too.

It prints the load and pipeline times, then per page p50 and p95 of both, and the ratio
of the cold p95 to the goal (<= 1.00 meets it). Timings on a shared machine are noisy;
compare the figures of one run. Options: ``--seed``, ``--facilities``, ``--days``,
``--workdir`` (SQLite files; default a temporary folder), ``--pg-url`` (an admin URL; a
scratch database is created and dropped), ``--keep`` (keep the stores), ``--json FILE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.scratchdb import (
    SERVER_URL,
    create_announced,
    drop_database,
    scratch_name,
    sigterm_as_exit,
)
from metrics.lineage.graph import nearest_rank

PG_ADMIN_URL = SERVER_URL
MAIN = Path(__file__).resolve().parents[1] / "app" / "main.py"
GOAL_P95_S = 1.0
ROLE_OF_PAGE = {"views/interfaces.py": "interface_owner", "views/exceptions.py": "steward",
                "views/alerts.py": "steward", "views/admin.py": "admin"}


@dataclass(frozen=True)
class Case:
    """One page visit: the page file and the URL parameters it opens with."""

    name: str
    page: str
    params: dict[str, str] = field(default_factory=dict)


def cases(week_start: datetime, end: datetime, usage_id: str, serial: str = ""
          ) -> list[Case]:
    """Every page, the drill-down as a KPI link and bare, the lineage with a trace, a
    recall of one serial (the benchmark's rows carry no lot or UDI)."""
    since, until = f"{week_start:%Y-%m-%dT%H:%M}", f"{end:%Y-%m-%dT%H:%M}"
    return [
        Case("overview", "views/overview.py"),
        Case("interfaces", "views/interfaces.py"),
        Case("drilldown (KPI link)", "views/drilldown.py",
             {"dataset": "capture", "problems": "true", "since": since, "until": until}),
        Case("drilldown (all due)", "views/drilldown.py", {"dataset": "capture"}),
        Case("lineage", "views/lineage.py"),
        Case("lineage (trace)", "views/lineage.py", {"trace": usage_id}),
        Case("alerts", "views/alerts.py"),
        Case("exceptions", "views/exceptions.py"),
        Case("rules", "views/rules.py"),
        Case("admin", "views/admin.py"),
        Case("revenue cycle", "views/revenue.py"),
        Case("recall (serial)", "views/recall.py", {"by": "serial", "value": serial}),
    ]


# --- the store ------------------------------------------------------------------------------

def load_store(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generate the rows, run the post-collection pipeline, add a user per role."""
    from app.data.users import add_user
    from bench.datagen import generate
    from chargeline.pipeline import after_collection
    from core.config import Settings
    from store.engine import make_engine
    from store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    info = generate(engine, args.rows, seed=args.seed, facilities=args.facilities,
                    days=args.days)
    engine.dispose()
    engine = make_engine(url)  # a fresh pool, as the collector process has
    started = time.perf_counter()
    report = after_collection(Settings(database_url=url, data_dir=args.workdir / "data"),
                              engine, full=True)
    info["pipeline_seconds"] = time.perf_counter() - started
    info["pipeline"] = report.summary()
    with engine.begin() as conn:
        for role in ("executive", "interface_owner", "steward", "admin"):
            add_user(conn, f"{role}@bench", [role], password="bench-pw")
    engine.dispose()
    return info


# --- timing ---------------------------------------------------------------------------------

def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def time_case(case: Case, repeat: int, cold: bool) -> list[float]:
    """Seconds of ``repeat`` full script runs of one page (entry script included)."""
    from streamlit.testing.v1 import AppTest

    from app.data.users import User
    from app.session import USER_KEY

    role = ROLE_OF_PAGE.get(case.page, "executive")
    at = AppTest.from_file(str(MAIN), default_timeout=600)
    at.session_state[USER_KEY] = User(f"{role}@bench", frozenset({role}))
    for key, value in case.params.items():
        at.query_params[key] = [value]
    at.switch_page(case.page)  # before the first run: the page a link opens
    _clear_caches()
    at.run()
    if at.exception:
        raise RuntimeError(f"{case.name}: {at.exception[0].message}")
    times = []
    for _ in range(repeat):
        if cold:
            _clear_caches()
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"{case.name}: {at.exception[0].message}")
    return times


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    return nearest_rank(values, 0.95)


def measure(url: str, info: dict[str, Any], repeat: int) -> list[dict[str, Any]]:
    """Cold and warm figures of every case against the store at ``url``."""
    from sqlalchemy import func, select

    from store.engine import make_engine
    from store.schema import usage_events

    os.environ["CHARGELINE_DATABASE_URL"] = url
    os.environ.pop("CHARGELINE_CONFIG", None)
    engine = make_engine(url)
    with engine.connect() as conn:
        usage_id = conn.execute(select(func.max(usage_events.c.usage_id))).scalar_one()
        serial = conn.execute(select(func.max(usage_events.c.serial)).where(
            usage_events.c.serial != "")).scalar_one() or ""
    engine.dispose()
    end = info["end"].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    rows = []
    for case in cases(end - timedelta(days=7), end, usage_id, serial):
        cold = time_case(case, repeat, cold=True)
        warm = time_case(case, repeat, cold=False)
        rows.append({"page": case.name, "cold_p50": statistics.median(cold),
                     "cold_p95": p95(cold), "warm_p50": statistics.median(warm),
                     "warm_p95": p95(warm)})
        print(f"  {case.name:<22} cold p50 {rows[-1]['cold_p50']:6.2f} s  p95 "
              f"{rows[-1]['cold_p95']:6.2f} s   warm p50 {rows[-1]['warm_p50']:6.2f} s  p95 "
              f"{rows[-1]['warm_p95']:6.2f} s   cold p95 / goal "
              f"{rows[-1]['cold_p95'] / GOAL_P95_S:5.2f}x", flush=True)
    _clear_caches()
    return rows


# --- driver ---------------------------------------------------------------------------------

def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    name = scratch_name("pages")
    url = (f"sqlite:///{args.workdir / (name + '.db')}" if backend == "sqlite"
           else create_announced(args.pg_url, name, keep=args.keep))
    try:
        print(f"\n{backend}: loading {args.rows:,} usage events ...", flush=True)
        info = load_store(url, args)
        print(f"  load {info['load_seconds']:.1f} s ({sum(info['rows'].values()):,} rows); "
              f"pipeline {info['pipeline_seconds']:.1f} s — {info['pipeline']}", flush=True)
        print(f"  pages, {args.repeat} runs each (goal: cold p95 <= {GOAL_P95_S:g} s):")
        pages = measure(url, info, args.repeat)
    finally:
        if not args.keep:
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(str(args.workdir / name) + ".db" + suffix).unlink(missing_ok=True)
            else:
                drop_database(args.pg_url, name)
    worst = max(pages, key=lambda r: r["cold_p95"])
    print(f"  slowest cold p95: {worst['page']} {worst['cold_p95']:.2f} s "
          f"({worst['cold_p95'] / GOAL_P95_S:.2f}x the goal) — "
          + ("goal met" if worst["cold_p95"] <= GOAL_P95_S else "goal NOT met"))
    return {"backend": backend, "rows": args.rows, "load_seconds": info["load_seconds"],
            "pipeline_seconds": info["pipeline_seconds"], "pages": pages}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench pages", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="usage events (default 1M)")
    p.add_argument("--backend", default="sqlite,postgresql", help="sqlite, postgresql or both")
    p.add_argument("--repeat", type=int, default=20, help="runs per page and mode (p95 of them)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--facilities", type=int, default=3)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--pg-url", default=PG_ADMIN_URL)
    p.add_argument("--keep", action="store_true", help="keep the generated stores")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run it; SIGTERM, like Ctrl+C, still drops the scratch database."""
    with sigterm_as_exit():
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Outside AppTest's script runs Streamlit warns once per cached query ("No runtime
    # found", "missing ScriptRunContext"), again after every cache clear; errors still show.
    logging.disable(logging.WARNING)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        print(f"unknown backend {', '.join(sorted(unknown))}: use sqlite and/or postgresql")
        return 2
    if args.json:
        args.json = args.json.resolve()
    with tempfile.TemporaryDirectory(prefix="chargeline-bench-pages-") as tmp:
        args.workdir = (args.workdir or Path(tmp)).resolve()
        args.workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(args.workdir)  # no stray chargeline.yaml or data/rules from elsewhere
        print(f"Dashboard pages benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
              f"{args.rows:,} usage events, {args.facilities} facilities, {args.days} days")
        results = [run_backend(b, args) for b in backends]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    met = all(r["cold_p95"] <= GOAL_P95_S for res in results for r in res["pages"])
    print("\nAll pages within the goal." if met else "\nSome pages miss the goal (above).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
