"""Retention benchmark: rows/s of ``chargeline db retain`` on a generated store.

Run (from the repository root)::

    .venv/bin/python -m bench retention --rows 250000 --days 60 --months 1

Per backend it loads ``--rows`` usage events over the ``--days`` before today
(``bench.datagen``, feeds off), runs a full metrics pass (the facts and links retention
keeps consistent), then times, as the command runs them (``chargeline.retention``: batches
of ``--batch`` encounters, each under the metrics passes' lease, a short pause every 5 s
for a waiting pass), a dry run and the real run with a cutoff ``--months`` calendar months
back, and the incremental metrics pass after it. Printed: encounters and canonical rows
aged out, rows/s, batches, the process's own peak memory (anonymous, sampled; see
``bench metrics``) and the pass after. PostgreSQL works in a database of its own on the
``--pg-url`` server (``bench/scratchdb.py``), dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.metrics import ANON, anon_mb, reset_peak
from bench.scratchdb import SERVER_URL, scratch_database, sigterm_as_exit


def run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load, compute, then time the dry run, the run and the pass after it."""
    from bench.datagen import generate
    from chargeline.retention import run_retention
    from core.config import ChargeSla, Settings
    from metrics.compute.run import compute
    from store.engine import make_engine
    from store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    try:
        info = generate(engine, args.rows, seed=args.seed, facilities=args.facilities,
                        days=args.days, feeds=False)
        rows = sum(info["rows"].values())
        print(f"  loaded {args.rows:,} usage events ({rows:,} rows) in "
              f"{info['load_seconds']:.1f} s", flush=True)
        sla = ChargeSla()
        t = time.perf_counter()
        compute(engine, sla, full=True)
        full_s = time.perf_counter() - t
        print(f"  full metrics pass {full_s:.1f} s", flush=True)
        settings = Settings(database_url=url, retention={"raw_months": args.months,
                                                         "batch_encounters": args.batch})
        out: dict[str, Any] = {"rows": rows, "usages": args.rows, "full_pass_s": full_s}
        for label, dry in (("dry run", True), ("run", False)):
            reset_peak()
            held = anon_mb()  # what the load and the full pass left in this process
            result = run_retention(settings, engine, dry_run=dry)
            rate = result.canonical_rows / result.seconds if result.seconds else 0.0
            out[label] = {"encounters": result.encounters, "kept": result.kept_encounters,
                          "canonical_rows": result.canonical_rows, "rows": result.rows,
                          "batches": result.batches, "seconds": result.seconds,
                          "rows_per_s": rate, "own_peak_mb": ANON.peak_mb(),
                          "own_held_before_mb": held}
            print(f"  {label}: {result.summary()}; own memory peak "
                  f"{out[label]['own_peak_mb']:.0f} MB ({held:.0f} MB held before it)",
                  flush=True)
        t = time.perf_counter()
        after = compute(engine, sla)
        out["pass_after_s"] = time.perf_counter() - t
        out["pass_after_full"] = after.full
        print(f"  the metrics pass after it: {'full' if after.full else 'incremental'} "
              f"{out['pass_after_s']:.2f} s", flush=True)
        return out
    finally:
        engine.dispose()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench retention",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=250_000, help="usage events to generate")
    p.add_argument("--days", type=int, default=60, help="days of records, ending today")
    p.add_argument("--months", type=int, default=1, help="retention: months kept")
    p.add_argument("--batch", type=int, default=2000, help="encounters per transaction")
    p.add_argument("--facilities", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--backend", default="sqlite,postgresql", help="sqlite,postgresql")
    p.add_argument("--pg-url", default=SERVER_URL, help="the PostgreSQL server")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgresql"}:
        print("--backend takes sqlite, postgresql or both", file=sys.stderr)
        return 2
    print(f"retention benchmark: {args.rows:,} usage events over {args.days} days, "
          f"{args.months} month(s) kept, batches of {args.batch:,} encounters; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC (shared machine: noisy)", flush=True)
    figures: dict[str, Any] = {}
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        for backend in backends:
            print(f"{backend}:", flush=True)
            with ExitStack() as stack:
                url = (f"sqlite:///{Path(tmp) / 'retention.db'}" if backend == "sqlite"
                       else stack.enter_context(scratch_database(args.pg_url, "retention")))
                figures[backend] = run_backend(url, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
