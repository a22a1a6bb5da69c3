"""Calibrate this machine against the perf anchors: the anchors' plain-SQL duplicate and
unmapped checks on their 1M-row charges table, in SQLite, timed here.

Run::

    .venv/bin/python -m bench calibrate [--rows 1000000] [--repeat 3]

``../shared/notes/perf-anchors.md`` measured every peer on "a 2-core machine of the kind
CI uses"; these machines are shared, and the same VM can run twice as slow on another day.
This rebuilds the anchors' table the way the note describes it (numpy ``default_rng(42)``:
unique ``charge_id``, about 200k encounters, 5,000 CDM codes, 30 service dates, 50k lots,
1 % copied rows; 4,800 codes mapped), runs their two queries on a SQLite file without an
extra index (one warm-up, the median of ``--repeat``), and prints the seconds beside the
anchors' 1.057 s (0.777 s duplicates + 0.280 s unmapped). The ratio says how much slower
(> 1) or faster this machine is today; ``bench metrics`` prints it with its figures so runs
of different days can be compared. It never scales a figure: goals are judged on the
figures as measured.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ANCHOR_SECONDS = {"duplicates": 0.777, "unmapped": 0.280}  # plain SQL, SQLite, no index, 1M
DUPLICATES = ("SELECT count(*), sum(n) - count(*) FROM (SELECT count(*) n FROM charges "
              "GROUP BY encounter_id, cdm_code, service_date, lot HAVING count(*) > 1)")
UNMAPPED = ("SELECT count(*) FROM charges c LEFT JOIN mapped_codes m "
            "ON m.cdm_code = c.cdm_code WHERE m.cdm_code IS NULL")


def _rows(n: int) -> tuple[list[tuple[Any, ...]], list[tuple[str]]]:
    """The anchors' charges (with 1 % copies under new ids, shuffled) and mapped codes."""
    import numpy as np

    rng = np.random.default_rng(42)
    base = n - n // 100
    encounter = rng.integers(0, 200_000, base)
    cdm = rng.integers(1, 5001, base)
    day = rng.integers(0, 30, base)
    lot = rng.integers(0, 50_000, base)
    qty = rng.integers(1, 6, base)
    amount = np.round(rng.lognormal(4.0, 1.0, base), 2)
    copies = rng.integers(0, base, n // 100)
    order = rng.permutation(n)
    source = np.concatenate([np.arange(base), copies])[order]
    rows = [(f"CH{i:08d}", f"E{encounter[s]:06d}", f"C1713-{cdm[s]:04d}",
             f"2026-10-{1 + day[s]:02d}", f"L{lot[s]:05d}", int(qty[s]), float(amount[s]))
            for i, s in enumerate(source.tolist())]
    mapped = [(f"C1713-{c:04d}",) for c in rng.permutation(np.arange(1, 5001))[:4800].tolist()]
    return rows, mapped


def measure(rows: int = 1_000_000, repeat: int = 3) -> dict[str, Any]:
    """Seconds of the anchors' two checks here, and the ratio to the anchors' machine."""
    charges, mapped = _rows(rows)
    with tempfile.TemporaryDirectory(prefix="chargeline-calibrate-") as folder:
        conn = sqlite3.connect(Path(folder) / "anchors.db")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("CREATE TABLE charges (charge_id TEXT PRIMARY KEY, encounter_id TEXT, "
                     "cdm_code TEXT, service_date TEXT, lot TEXT, qty INTEGER, amount REAL)")
        conn.execute("CREATE TABLE mapped_codes (cdm_code TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO charges VALUES (?, ?, ?, ?, ?, ?, ?)", charges)
        conn.executemany("INSERT INTO mapped_codes VALUES (?)", mapped)
        conn.commit()
        seconds: dict[str, float] = {}
        found: dict[str, Any] = {}
        for name, sql in (("duplicates", DUPLICATES), ("unmapped", UNMAPPED)):
            conn.execute(sql).fetchall()  # warm-up
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                found[name] = conn.execute(sql).fetchone()
                runs.append(time.perf_counter() - started)
            seconds[name] = statistics.median(runs)
        conn.close()
    total = sum(seconds.values())
    anchor = sum(ANCHOR_SECONDS.values()) * rows / 1_000_000
    return {"rows": rows, "seconds": seconds, "total": total, "anchor_total": anchor,
            "factor": total / anchor, "found": found}


def describe(result: dict[str, Any]) -> str:
    """One line: this machine's seconds, the anchors', and the factor."""
    return (f"machine calibration: the perf anchors' plain-SQL checks on {result['rows']:,} "
            f"rows take {result['total']:.3f} s here against {result['anchor_total']:.3f} s "
            f"on the anchors' machine: {result['factor']:.2f}x their time today (no figure "
            "is scaled by it)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench calibrate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    result = measure(args.rows, args.repeat)
    print(f"duplicates {result['seconds']['duplicates']:.3f} s "
          f"(anchors {ANCHOR_SECONDS['duplicates']:.3f} s), found {result['found']['duplicates']}")
    print(f"unmapped   {result['seconds']['unmapped']:.3f} s "
          f"(anchors {ANCHOR_SECONDS['unmapped']:.3f} s), found {result['found']['unmapped']}")
    print(describe(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
