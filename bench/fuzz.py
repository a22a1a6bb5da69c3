"""Fuzz figures: hostile HL7, FHIR and OData files through chargeline ingest, per database.

``python -m bench fuzz [--inputs 1000] [--seed 18] [--backend sqlite,postgresql]
[--pg-url URL] [--keep DIR]`` draws ``--inputs`` files with the generators of the fuzz
property (``tests/collectors/hostile.py``: hostile values in real HL7 fields and in every
log layout, FHIR resources and Bundles with hostile values, deep nesting, non-object
entries, OData pages, cut-off documents), the same files for every database, and ingests
each one, followed by a good FHIR file, into a fresh store through ``chargeline ingest``'s
code path. Per database it prints how many inputs were

- ``stored``: records stored, nothing quarantined;
- ``quarantined``: quarantined with a reason, nothing stored;
- ``stored+quarantined``: some records stored, the rest quarantined;
- ``empty``: a Bundle without entries (``entry`` absent, null or []): nothing to store;
- ``vanished``: none of these — stored, quarantined or empty (goal 0);
- ``crashes``: a traceback out of ingest (goal 0);

with the records stored and the rows quarantined, the quarantine rows whose reason is an
unforeseen failure caught per record (goal 0), and the good files after an input that were
not stored (goal 0). ``--keep DIR`` writes the inputs of every crash, every empty and every
vanished one there, to look at. It exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from bench.scratchdb import (
    SERVER_URL,
    create_announced,
    drop_database,
    scratch_name,
    sigterm_as_exit,
)

PG_ADMIN_URL = SERVER_URL


def draw_inputs(count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` hostile files as (suffix, bytes), drawn by hypothesis from ``seed``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from tests.collectors.hostile import hl7_file, json_file

    drawn: list[tuple[str, bytes]] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def draw(data: Any) -> None:
        if len(drawn) >= count:
            return
        n = len(drawn) + 1
        suffix = data.draw(st.sampled_from([".hl7", ".json"]))
        drawn.append((suffix, data.draw(hl7_file(n) if suffix == ".hl7" else json_file(n))))

    draw()
    return drawn


def _store(backend: str, workdir: Path, pg_url: str) -> tuple[str, Any]:
    """A fresh migrated store: its URL and a cleanup function."""

    from store.engine import make_engine
    from store.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'fuzz.db'}"
        cleanup: Any = lambda: None  # noqa: E731 - the work folder goes with it
    else:
        name = scratch_name("fuzz")
        url = create_announced(pg_url, name)

        def cleanup() -> None:
            drop_database(pg_url, name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, cleanup


def run_backend(backend: str, inputs: list[tuple[str, bytes]], pg_url: str,
                keep: Path | None) -> dict[str, Any]:
    """Ingest every input (then a good file) into a fresh store of ``backend``."""
    from core.config import Settings
    from store.engine import make_engine
    from tests.collectors.hostile import ingest_with_good_after

    figures: Counter[str] = Counter()
    crashes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{backend}-") as tmp:
        workdir = Path(tmp)
        url, cleanup = _store(backend, workdir, pg_url)
        engine = make_engine(url)
        settings = Settings(database_url=url, data_dir=workdir)
        started = time.perf_counter()
        try:
            for n, (suffix, data) in enumerate(inputs, start=1):
                folder = workdir / f"in{n:06d}"
                folder.mkdir()
                kind = suffix[1:]
                figures["inputs"] += 1
                figures[f"inputs {kind}"] += 1
                try:
                    outcome = ingest_with_good_after(settings, engine, folder, suffix, data, n,
                                                     f"fuzz-{n}")
                except Exception:
                    figures["crashes"] += 1
                    figures[f"crashes {kind}"] += 1
                    crashes.append(traceback.format_exc().strip().splitlines()[-1])
                    _keep(keep, backend, "crash", n, suffix, data)
                    shutil.rmtree(folder)
                    continue
                figures[outcome.kind] += 1
                figures[f"{outcome.kind} {kind}"] += 1
                figures["records stored"] += outcome.records
                figures["rows quarantined"] += len(outcome.reasons)
                figures["unforeseen failures caught"] += outcome.unforeseen
                figures["good file after not stored"] += not outcome.good_after
                if outcome.kind in ("empty", "vanished"):
                    _keep(keep, backend, outcome.kind, n, suffix, data)
                shutil.rmtree(folder)
        finally:
            engine.dispose()
            cleanup()
        seconds = time.perf_counter() - started
    return {"figures": figures, "crashes": crashes, "seconds": seconds}


def _keep(keep: Path | None, backend: str, what: str, n: int, suffix: str,
          data: bytes) -> None:
    if keep is not None:
        target = keep / backend / what
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{n}{suffix}").write_bytes(data)


ROWS = ("inputs", "stored", "quarantined", "stored+quarantined", "empty", "vanished",
        "crashes", "records stored", "rows quarantined", "unforeseen failures caught",
        "good file after not stored")


def report(results: dict[str, dict[str, Any]]) -> str:
    backends = list(results)
    lines = [f"{'':<30}" + "".join(f"{b:>18}" for b in backends)]
    for row in ROWS:
        cells = []
        for b in backends:
            f = results[b]["figures"]
            detail = (f"{f[row]} ({f[row + ' hl7']}/{f[row + ' json']})"
                      if f"{row} hl7" in f or f"{row} json" in f else str(f[row]))
            cells.append(f"{detail:>18}")
        lines.append(f"{row:<30}" + "".join(cells))
    lines.append(f"{'seconds':<30}" + "".join(f"{results[b]['seconds']:>18.1f}"
                                               for b in backends))
    lines.append("n (h/j): of them HL7 / JSON inputs. Goals: 0 vanished, 0 crashes, 0 "
                 "unforeseen failures, 0 good files lost")
    for b in backends:
        for crash in Counter(results[b]["crashes"]).most_common(10):
            lines.append(f"{b} crash x{crash[1]}: {crash[0]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run it; SIGTERM, like Ctrl+C, still drops the scratch databases."""
    with sigterm_as_exit():
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=1000, help="files to draw (1000)")
    parser.add_argument("--seed", type=int, default=18, help="hypothesis seed (18)")
    parser.add_argument("--backend", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--keep", type=Path, help="folder for the inputs of crashes, "
                        "empty and vanished ones")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backend takes sqlite, postgresql or both")
    t0 = time.perf_counter()
    inputs = draw_inputs(args.inputs, args.seed)
    digest = hashlib.sha256()
    for suffix, data in inputs:
        digest.update(f"{suffix}:{len(data)}:".encode() + data)
    # Hypothesis also draws the literals it finds in the project's loaded modules, so a
    # code change can change the inputs a seed gives: the digest says whether two runs
    # saw the same ones
    print(f"drew {len(inputs)} inputs (seed {args.seed}, inputs sha256 "
          f"{digest.hexdigest()[:16]}) in {time.perf_counter() - t0:.1f} s")
    results = {b: run_backend(b, inputs, args.pg_url, args.keep) for b in backends}
    print(report(results))
    lost = any(r["figures"]["crashes"] or r["figures"]["vanished"]
               or r["figures"]["unforeseen failures caught"]
               or r["figures"]["good file after not stored"] for r in results.values())
    return 1 if lost else 0
