"""Metrics benchmark: full and incremental metric computation on 1M usage events, against
Great Expectations 1.x and a bare DuckDB group-by on the same rows.

Run (from the repository root, after ``.venv/bin/pip install -e '.[dev,bench]'``)::

    .venv/bin/python -m bench metrics --rows 1000000 --backend sqlite,postgresql
    .venv/bin/python -m bench.metrics --rows 100000 --backend sqlite      # the same, directly

It loads a store per backend with ``bench.datagen.generate`` (1M usage events ≈ 7.8M
rows: messages, link rows, charges, inventory issues, claims, remittances, master data),
then prints per backend: the load time; the full computation
``metrics.compute.run.compute(engine, ChargeSla(), full=True)`` (goal <= 10 s on 2 cores);
the incremental pass after ``--new-rows`` (10,000)
new usage events with their hops (goal <= 1 s); and the peak memory of each phase, two
ways: "RSS" is VmHWM of the worker process (reset through ``/proc/self/clear_refs`` once
the store is loaded), which counts the file pages it maps too; "own" is the peak of its
anonymous memory (``RssAnon``, sampled every 10 ms by a thread: heap, SQLite's page cache
and temporary tables, Python objects), the memory the process itself holds. For
PostgreSQL both are the client process only; the server's memory is not counted.

In the same run, on the same rows (the SQLite file), it times the equivalent duplicate
checks (compound-unique over each duplicate business key of the live charges) and mapping
check (``usage_events.item_ref`` in the item ids) in GX 1.x on the SQLite file and on
pandas, in pandas alone, as plain SQL on the SQLite file, and in DuckDB over DataFrames
(the floor). GX and the DataFrames get the live charges per key ready-made (untimed, as
tables / frames): a GX query asset re-runs the filter inside its join-back, which turns
quadratic on SQLite. Each tool runs in its own process, one warm-up then the median of
``--repeat`` runs.

Like with like: a Chargeline pass does much more than the two checks (stitching, every
fact, points, the exception queue), so the ratios with goals compare the peers' checks with
the *checks part* of a pass: the stages ``duplicates`` + ``mapping`` of
``ComputeResult.stages`` (the duplicate groups over the surviving charges by the three
keys; every usage's item reference resolved to item, unit, crosswalk and CDM line), of the
full pass and of the incremental one. The peers, too, get the surviving charges ready-made.
Goals: GX / Chargeline checks >= 10x, Chargeline checks / DuckDB floor <= 3x, and after the
new rows (the peers must rescan everything) GX / Chargeline incremental checks >= 80x
(perf-anchors.md). The whole pass is printed beside them, and each backend's median time
per stage.

Options: ``--seed``, ``--facilities``, ``--days``, ``--repeat`` (timed runs per figure),
``--workdir`` (SQLite files; default a temporary folder), ``--pg-url`` (the server: the
benchmark creates its own database there, ``chargeline_bench_metrics_<pid>``, says so, and
drops it at the end, also on an error, Ctrl+C or SIGTERM; ``bench/scratchdb.py``),
``--no-peers``, ``--no-calibrate``, ``--json FILE`` (all figures). Timings on a shared
machine are noisy: compare the ratios of one run.
The last line calibrates the machine against the perf anchors (``bench/calibrate.py``): how
many times their time the anchors' own plain-SQL checks take here today.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.calibrate import describe as describe_calibration
from bench.calibrate import measure as measure_calibration
from bench.metrics_peers import DUP_KEYS, PEERS
from bench.scratchdb import (
    SERVER_URL,
    create_database,
    drop_database,
    scratch_name,
    sigterm_as_exit,
    where,
)

GOAL_FULL_S, GOAL_INCR_S = 10.0, 1.0
GOAL_VS_GX, GOAL_VS_DUCKDB, GOAL_INCR_VS_GX = 10.0, 3.0, 80.0


# --- memory ---------------------------------------------------------------------------------

def reset_peak() -> None:
    """Reset this process's VmHWM to its current RSS (kernel >= 4.0), and the sampled
    anonymous peak (``ANON``) to the anonymous memory it holds now."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    ANON.reset()


def peak_mb() -> float:
    """VmHWM: the peak resident set, file pages included (shared libraries, and any file
    pages the process maps)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def anon_mb() -> float:
    """This process's own memory now: ``RssAnon`` of /proc/self/status (heap, SQLite's page
    cache and temporary tables, Python objects), no file pages."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def pss_anon_mb() -> float:
    """``Pss_Anon`` of /proc/self/smaps_rollup now (anonymous pages, each shared one
    divided among its sharers); NaN where the kernel has no rollup."""
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class AnonPeak:
    """The peak of ``anon_mb`` since the last ``reset``, sampled every ``every`` seconds
    by a daemon thread (the kernel keeps a high-water mark of the whole RSS only)."""

    def __init__(self, every: float = 0.01) -> None:
        self.every, self.peak = every, 0.0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, anon_mb())
            time.sleep(self.every)

    def reset(self) -> None:
        self.peak = anon_mb()
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, daemon=True,
                                            name="anon-peak")
            self._thread.start()

    def peak_mb(self) -> float:
        return max(self.peak, anon_mb())


ANON = AnonPeak()


# --- the part of a pass that does what the peers do ----------------------------------------

# The stages of ``metrics.compute.run`` that run the peers' two checks: ``duplicates`` (the
# duplicate-charge groups over the surviving charges, by the three business keys) and
# ``mapping`` (every usage's item reference resolved: item, unit, crosswalk, CDM line).
CHECK_STAGES = ("duplicates", "mapping")


def checks_part(stages: dict[str, float]) -> float:
    """Seconds a pass spent in the peers' two checks (``CHECK_STAGES``)."""
    return sum(stages.get(name, 0.0) for name in CHECK_STAGES)


# --- workers (each phase in its own process, so peak memory is its own) ---------------------

def _encode(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in info.items()}


def _decode(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (datetime.fromisoformat(v) if k in ("start", "end") else v)
            for k, v in info.items()}


def _engine(url: str) -> Any:
    from store.engine import make_engine

    return make_engine(url)


def work_load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate an empty store and load the generated rows."""
    from bench.datagen import generate
    from store.migrate import upgrade

    engine = _engine(url)
    upgrade(engine)
    reset_peak()
    info = generate(engine, args.rows, seed=args.seed, facilities=args.facilities,
                    days=args.days)
    info["load_peak_mb"] = peak_mb()
    info["load_anon_peak_mb"] = ANON.peak_mb()
    engine.dispose()
    return _encode(info)


def _checkpoint(engine: Any) -> float:
    """Seconds of the WAL checkpoint the pipeline runs after a pass (SQLite; 0 else)."""
    from store.engine import checkpoint_wal

    t = time.perf_counter()
    checkpoint_wal(engine, "PASSIVE")
    return time.perf_counter() - t if engine.dialect.name == "sqlite" else 0.0


def _vacuum(engine: Any) -> float:
    """Seconds of the VACUUM the pipeline runs after a full pass (PostgreSQL; 0 else)."""
    from metrics.compute.dbtune import vacuum_refilled

    t = time.perf_counter()
    vacuum_refilled(engine)
    return time.perf_counter() - t if engine.dialect.name == "postgresql" else 0.0


SERVER_SETTINGS = ("shared_buffers", "max_wal_size")


def _server(engine: Any) -> dict[str, Any]:
    """PostgreSQL: the server settings the figures were measured under, and how many
    checkpoints WAL volume has forced so far (a full pass writes GBs of WAL; with the
    default ``max_wal_size`` the server checkpoints in the middle of it; 4 GB measured no
    faster here). Empty on SQLite."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        out: dict[str, Any] = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                               for name in SERVER_SETTINGS}
        out["wal_checkpoints"] = conn.exec_driver_sql(
            "SELECT checkpoints_req FROM pg_stat_bgwriter").scalar()
    return out


def work_compute(url: str, args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """Full computation ``repeat`` times, then ``repeat`` x (append new rows; incremental)."""
    from bench.datagen import append
    from core.config import ChargeSla
    from metrics.compute.run import compute

    engine, sla = _engine(url), ChargeSla()
    info = _decode(base)
    server = _server(engine)
    reset_peak()
    full, full_checks, full_stages, full_ckpt, full_vacuum = [], [], [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = compute(engine, sla, full=True)
        full.append(time.perf_counter() - t)
        full_checks.append(checks_part(res.stages))
        full_stages.append(res.stages)
        full_ckpt.append(_checkpoint(engine))
        full_vacuum.append(_vacuum(engine))
    full_peak, full_anon = peak_mb(), ANON.peak_mb()
    incr, incr_checks, incr_stages, incr_peaks, appends, results = [], [], [], [], [], []
    incr_anon: list[float] = []
    incr_ckpt: list[float] = []
    for _ in range(args.repeat):
        info = append(engine, args.new_rows, base=info)
        appends.append(info["load_seconds"])
        reset_peak()
        t = time.perf_counter()
        res = compute(engine, sla)
        incr.append(time.perf_counter() - t)
        incr_ckpt.append(_checkpoint(engine))
        incr_checks.append(checks_part(res.stages))
        incr_stages.append(res.stages)
        incr_peaks.append(peak_mb())
        incr_anon.append(ANON.peak_mb())
        results.append({"full": res.full, "encounters": res.encounters, "hours": res.hours})
    if server:
        server["wal_checkpoints"] = _server(engine)["wal_checkpoints"] - server["wal_checkpoints"]
    engine.dispose()
    return {"full_s": full, "full_checks_s": full_checks, "full_stages": full_stages,
            "full_peak_mb": full_peak, "full_anon_peak_mb": full_anon,
            "incr_anon_peak_mb": max(incr_anon), "pss_anon_mb": pss_anon_mb(),
            "full_checkpoint_s": full_ckpt,
            "full_vacuum_s": full_vacuum,
            "incr_checkpoint_s": incr_ckpt, "incr_s": incr, "incr_checks_s": incr_checks,
            "incr_stages": incr_stages, "incr_peak_mb": max(incr_peaks), "append_s": appends,
            "incr_results": results, "state": _encode(info), "server": server}


def work_peer(name: str, db_path: str, repeat: int) -> dict[str, Any]:
    t = time.perf_counter()
    if name.startswith("gx"):
        import great_expectations  # noqa: F401  (import time reported apart)
    imported = time.perf_counter() - t
    reset_peak()
    out = PEERS[name](db_path, repeat)
    return {**out, "peak_mb": peak_mb(), "anon_peak_mb": ANON.peak_mb(),
            "import_seconds": imported}


def _worker_main(args: argparse.Namespace) -> int:
    base = json.loads(Path(args.state).read_text()) if args.state else {}
    if args.worker == "load":
        out = work_load(args.url, args)
    elif args.worker == "compute":
        out = work_compute(args.url, args, base)
    else:
        out = work_peer(args.worker.removeprefix("peer:"), args.url, args.repeat)
    Path(args.out).write_text(json.dumps(out, default=str))
    return 0


# --- orchestration and report ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
_SCRATCH: list[Path] = []


def _spawn(args: argparse.Namespace, worker: str, url: str, workdir: Path,
           state: dict[str, Any] | None = None) -> dict[str, Any]:
    out = workdir / f"{uuid.uuid4().hex}.json"
    _SCRATCH.append(out)
    cmd = [sys.executable, "-m", "bench.metrics", "--worker", worker, "--url", url,
           "--out", str(out), "--rows", str(args.rows), "--seed", str(args.seed),
           "--facilities", str(args.facilities), "--days", str(args.days),
           "--repeat", str(args.repeat), "--new-rows", str(args.new_rows)]
    if state is not None:
        state_path = workdir / f"{uuid.uuid4().hex}.state.json"
        state_path.write_text(json.dumps(state, default=str))
        _SCRATCH.append(state_path)
        cmd += ["--state", str(state_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        cause = [ln for ln in lines if "Error" in ln.split(":")[0]][-1:]
        tail = "\n".join([*cause, *lines[-3:]])
        return {"error": f"worker {worker} failed (exit {done.returncode}):\n{tail}"}
    result = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def _fmt(seconds: float | None) -> str:
    return "   n/a" if seconds is None else f"{seconds:7.3f}"


def _ratio(label: str, value: float | None, goal: str, met: bool | None) -> str:
    shown = "n/a" if value is None else f"{value:8.2f}x"
    verdict = "" if met is None else ("  met" if met else "  NOT met")
    return f"  {label:<62} {shown:>10}   goal {goal}{verdict}"


def _stage_medians(stages: list[dict[str, float]]) -> str:
    names = list(dict.fromkeys(name for one in stages for name in one))
    return ", ".join(f"{name} {statistics.median(one.get(name, 0.0) for one in stages):.3f}"
                     for name in names)


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]],
           peers: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
           calibration: dict[str, Any] | None = None) -> str:
    """The printed figures: per backend, per peer, and the ratios next to their goals."""
    lines = []
    any_info = next((r["load"] for r in runs.values() if "rows" in r.get("load", {})), None)
    rows = sum(any_info["rows"].values()) if any_info else 0
    lines.append(f"Chargeline metrics benchmark: {args.rows:,} usage events ({rows:,} rows), "
                 f"seed {args.seed}, {args.facilities} facilities, {args.days} days; "
                 f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    lines.append(f"{'backend':<11} {'load s':>7} {'full s':>7} {'checks':>7} {'incr s':>7} "
                 f"{'checks':>7} {'RSS MB full/incr':>17} {'own MB full/incr':>17}  (median "
                 f"of {args.repeat}; goals: full <= {GOAL_FULL_S:g} s, incremental <= "
                 f"{GOAL_INCR_S:g} s)")
    for backend, run in runs.items():
        if "error" in run.get("load", {}) or "error" in run.get("compute", {}):
            err = run.get("load", {}).get("error") or run["compute"]["error"]
            lines.append(f"{backend:<11} ERROR {err}")
            continue
        c = run["compute"]
        full, incr = statistics.median(c["full_s"]), statistics.median(c["incr_s"])
        full_checks = statistics.median(c["full_checks_s"])
        incr_checks = statistics.median(c["incr_checks_s"])
        run.update(full=full, incr=incr, full_checks=full_checks, incr_checks=incr_checks)
        lines.append(f"{backend:<11} {run['load']['load_seconds']:7.1f} {full:7.3f} "
                     f"{full_checks:7.3f} {incr:7.3f} {incr_checks:7.3f} "
                     f"{c['full_peak_mb']:8.0f}/{c['incr_peak_mb']:<8.0f} "
                     f"{c.get('full_anon_peak_mb', float('nan')):8.0f}/"
                     f"{c.get('incr_anon_peak_mb', float('nan')):<8.0f} "
                     f"incremental touched {c['incr_results'][-1]}")
        lines.append(f"  full stages s: {_stage_medians(c['full_stages'])}")
        lines.append(f"  incremental stages s: {_stage_medians(c['incr_stages'])}")
        if c.get("server"):
            lines.append("  server: " + ", ".join(f"{k} {c['server'][k]}" for k in SERVER_SETTINGS)
                         + f"; checkpoints forced by WAL volume during the passes: "
                         f"{c['server']['wal_checkpoints']}")
        if backend == "sqlite":
            ckpt_full = statistics.median(c["full_checkpoint_s"])
            ckpt_incr = statistics.median(c["incr_checkpoint_s"])
            lines.append(f"  WAL checkpoint after the pass (the pipeline runs it once the "
                         f"rules have run; not in the pass's time): full {ckpt_full:.3f} s, "
                         f"incremental {ckpt_incr:.3f} s")
        if backend == "postgresql" and c.get("full_vacuum_s"):
            lines.append(f"  VACUUM of the refilled fact tables after a full pass (the "
                         f"pipeline runs it; not in the pass's time): "
                         f"{statistics.median(c['full_vacuum_s']):.3f} s")
    lines.append("  'RSS MB' = peak resident set (VmHWM: file pages mapped by the process count "
                 "too); 'own MB' = peak anonymous memory (RssAnon, sampled every 10 ms: heap, "
                 "SQLite's page cache and temporary tables, Python objects), the process's own;"
                 " PostgreSQL's server processes are in neither.")
    lines.append(f"  'checks' = the part of the pass that runs the peers' two checks: the "
                 f"stages {' + '.join(CHECK_STAGES)} (duplicate groups by the three keys over "
                 "the surviving charges; every usage's item resolved); the peers too get the "
                 "surviving charges ready-made.")
    if peers:
        lines.append(f"peers on the same rows (SQLite file; 1 warm-up, median of "
                     f"{args.repeat}):")
        lines.append(f"  {'tool':<22} {'total s':>8} " + " ".join(
            f"{k:>13}" for k in (*(f"dup_{d}" for d in DUP_KEYS), "unmapped"))
            + f" {'RSS MB':>8} {'own MB':>7}  findings")
        for name, res in peers.items():
            if "error" in res:
                lines.append(f"  {name:<22} ERROR {res['error']}")
                continue
            per = " ".join(f"{res['checks'][k]:13.3f}" for k in res["checks"])
            lines.append(f"  {name:<22} {res['seconds']:8.3f} {per} {res['peak_mb']:8.0f} "
                         f"{res.get('anon_peak_mb', float('nan')):7.0f}  {res['found']}")
    lines.append("ratios (same run, same rows); like with like: the peers' two checks against "
                 "the same two checks of a Chargeline pass ('checks'), then the whole pass:")
    gx = peers.get("gx_sqlite", {}).get("seconds")
    gxp = peers.get("gx_pandas", {}).get("seconds")
    floor = peers.get("duckdb", {}).get("seconds")
    plain = peers.get("sqlite_sql", {}).get("seconds")
    gx_after = after.get("gx_sqlite", {}).get("seconds")
    floor_after = after.get("duckdb", {}).get("seconds")

    def over(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    def met(value: float | None, goal: float, at_least: bool) -> bool | None:
        if value is None:
            return None
        return value >= goal if at_least else value <= goal

    for backend, run in runs.items():
        full, incr = run.get("full"), run.get("incr")
        if full is None:
            continue
        checks, incr_checks = run["full_checks"], run["incr_checks"]
        for label, value, goal, at_least in (
            (f"GX SQLite / Chargeline checks, full ({backend})", over(gx, checks),
             GOAL_VS_GX, True),
            (f"GX pandas / Chargeline checks, full ({backend})", over(gxp, checks),
             GOAL_VS_GX, True),
            (f"Chargeline checks, full ({backend}) / DuckDB floor", over(checks, floor),
             GOAL_VS_DUCKDB, False),
            (f"GX SQLite rescan / Chargeline checks, incremental ({backend})",
             over(gx_after, incr_checks), GOAL_INCR_VS_GX, True),
        ):
            sign = ">=" if at_least else "<="
            lines.append(_ratio(label, value, f"{sign} {goal:g}x", met(value, goal, at_least)))
        lines.append(_ratio(f"Chargeline checks, full ({backend}) / plain SQL on SQLite",
                            over(checks, plain), "(information)", None))
        lines.append(_ratio(f"DuckDB rescan / Chargeline checks, incremental ({backend})",
                            over(floor_after, incr_checks), "(information)", None))
        for label, value in (
            (f"GX SQLite / Chargeline whole full pass ({backend})", over(gx, full)),
            (f"Chargeline whole full pass ({backend}) / DuckDB floor", over(full, floor)),
            (f"GX SQLite rescan / Chargeline whole incremental ({backend})",
             over(gx_after, incr)),
        ):
            lines.append(_ratio(label, value, "(information: every metric)", None))
    if after:
        lines.append(f"after {args.repeat} x {args.new_rows:,} new usage events the peers "
                     "rescan: " + ", ".join(f"{k} {v.get('seconds', float('nan')):.3f} s"
                                            for k, v in after.items()))
    lines.append("A whole pass covers every metric (stitching, facts, points, exception queue); "
                 "the peers' figures only these two checks. Shared machine: compare ratios "
                 "within one run.")
    if calibration:
        lines.append(describe_calibration(calibration))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench metrics", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="usage events to generate")
    p.add_argument("--backend", default="sqlite,postgresql", help="sqlite,postgresql")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--facilities", type=int, default=3)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--new-rows", type=int, default=10_000, help="usage events per append")
    p.add_argument("--workdir", default="", help="folder for SQLite files (default: temp)")
    p.add_argument("--pg-url", default=SERVER_URL,
                   help="the PostgreSQL server (any database on it): the benchmark creates "
                   "its own database there and drops it at the end")
    p.add_argument("--no-peers", action="store_true", help="skip GX, pandas and DuckDB")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the machine calibration (bench/calibrate.py)")
    p.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    p.add_argument("--json", default="", help="also write every figure to this file")
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--url", default="", help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    p.add_argument("--state", default="", help=argparse.SUPPRESS)
    return p


def _run_backend(args: argparse.Namespace, backend: str, backends: list[str], url: str,
                 db_file: Path, need_file: bool, workdir: Path, runs: dict[str, Any],
                 peers: dict[str, Any], after: dict[str, Any]) -> None:
    """Load one backend's store, run the peers on the SQLite file, compute."""
    print(f"[{backend}] loading {args.rows:,} usage events ...", flush=True)
    run = {"load": _spawn(args, "load", url, workdir)}
    if backend == "sqlite" and need_file and "error" not in run["load"]:
        for name in PEERS:
            print(f"[peers] {name} ...", flush=True)
            peers[name] = _spawn(args, f"peer:{name}", str(db_file), workdir)
    if backend in backends and "error" not in run["load"]:
        print(f"[{backend}] computing ...", flush=True)
        run["compute"] = _spawn(args, "compute", url, workdir, run["load"])
        runs[backend] = run
        if backend == "sqlite" and need_file and "error" not in run["compute"]:
            for name in ("gx_sqlite", "sqlite_sql", "duckdb"):
                print(f"[peers] {name} after the new rows ...", flush=True)
                after[name] = _spawn(args, f"peer:{name}", str(db_file), workdir)
    elif backend in backends:
        runs[backend] = run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; 0 even when a goal is missed."""
    args = _parser().parse_args(argv)
    if args.worker:
        return _worker_main(args)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        print(f"unknown backend(s) {', '.join(sorted(unknown))}; use sqlite,postgresql",
              file=sys.stderr)
        return 2
    calibration = None
    if not args.no_calibrate:
        print("[calibrate] the perf anchors' plain-SQL checks on this machine ...", flush=True)
        calibration = measure_calibration()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="chargeline-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    peers: dict[str, dict[str, Any]] = {}
    after: dict[str, dict[str, Any]] = {}
    pg_name = scratch_name("metrics")
    pg_made = False
    db_file = workdir / f"bench-{args.rows}-{args.seed}.db"
    need_file = not args.no_peers
    order = ["sqlite", *(b for b in backends if b != "sqlite")]
    try:
        with sigterm_as_exit():  # SIGTERM, like Ctrl+C, still drops the scratch database
            for backend in order:
                if backend not in backends and not (backend == "sqlite" and need_file):
                    continue
                if backend == "sqlite":
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
                    url = f"sqlite:///{db_file}"
                    print(f"[sqlite] working in {db_file}", flush=True)
                else:
                    url = create_database(args.pg_url, pg_name)
                    pg_made = True
                    print(f"[postgresql] working in database {pg_name} on "
                          f"{where(args.pg_url)} (created now, "
                          f"{'kept' if args.keep else 'dropped'} at the end)", flush=True)
                _run_backend(args, backend, backends, url, db_file, need_file, workdir,
                             runs, peers, after)
            text = report(args, runs, peers, after, calibration)
            if pg_made:
                text += (f"\nPostgreSQL database: {pg_name} on {where(args.pg_url)}, "
                         + ("kept (--keep)" if args.keep else "dropped"))
            print(text)
            if args.json:
                Path(args.json).write_text(json.dumps(
                    {"runs": runs, "peers": peers, "after": after,
                     "calibration": calibration}, default=str, indent=1))
    finally:
        if not args.keep:
            if pg_made:
                drop_database(args.pg_url, pg_name)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            for scratch in _SCRATCH:  # the workers' hand-over files
                scratch.unlink(missing_ok=True)
            if not args.workdir:
                workdir.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
