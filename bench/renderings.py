"""Metric accuracy per rendering: precision, recall and $ against the truth, per fault kind.

``python -m bench renderings [--seeds 5,11] [--preset high] [--facilities 2] [--days 2]
[--renderings plain,world]`` builds each seed's estate, serves every rendering of it
(``simulator.rendering.RENDERINGS``: the same estate written with local offsets, unlinked
charges and issues, ERP posting lag, unit prices, CR LF ACKs, all at once), collects it
through the real collectors into a fresh SQLite store, computes the metrics, and prints per
rendering: the headline figures (missing and late charges, leakage $, duplicate groups and
overcharge $, failed mappings, missing issues, quantity mismatches) and, per fault kind,
precision / recall of the flagged records against the truth. Goal: 1.0 / 1.0 everywhere and
the same figures on every rendering (the tests in tests/metrics/test_renderings.py hold the
metrics to it; this prints the numbers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

END = datetime(2026, 11, 20, tzinfo=UTC)
HTTP_OFF = {"http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0, "timeout": 0.0}
OPEN = ("open", "acknowledged", "investigating")
USAGE_KINDS = ("missing_charge", "late_charge", "missing_inventory_issue", "unknown_item",
               "unit_not_convertible")


def _truth_sets(truth: dict[str, Any]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = defaultdict(set)
    for f in truth["faults"]:
        kind = f["kind"]
        if kind in USAGE_KINDS:
            out[kind].add(f["usage_id"])
        elif kind in ("no_crosswalk", "cdm_without_hcpcs"):
            out[kind].update(f["usage_ids"])
        elif kind == "duplicate_charge":
            out[kind].add(frozenset(f["charge_ids"]))
    return out


def _found_sets(rows: list[Any]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = defaultdict(set)
    for r in rows:
        if r.kind == "duplicate_charge":
            out[r.kind].add(frozenset([r.subject, *r.charge_ids.split(",")]))
        else:
            out[r.kind].update(u for u in r.usage_ids.split(",") if u)
    return out


def _score(want: set[Any], got: set[Any]) -> str:
    if not want and not got:
        return "  -  "
    hit = len(want & got)
    precision = hit / len(got) if got else 1.0
    recall = hit / len(want) if want else 1.0
    return f"{precision:.2f}/{recall:.2f}"


def run_one(seed: int, preset: str, facilities: int, days: int, rendering: str,
            workdir: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from collectors.runner import run_source
    from core.config import ChargeSla, Settings
    from metrics.compute.run import compute
    from metrics.read.report_data import build_report
    from simulator.config import EstateConfig, FaultRates
    from simulator.estate import build_estate
    from simulator.files import write_estate_files
    from simulator.rendering import get_rendering
    from simulator.server import serve_in_thread
    from simulator.sources import demo_sources
    from store.engine import make_engine
    from store.migrate import upgrade
    from store.schema_metrics import metric_exceptions

    config = EstateConfig(seed=seed, facilities=facilities, days=days, end=END,
                          volume_scale=0.3, faults=FaultRates.preset(preset, **HTTP_OFF))
    estate = build_estate(config, progress=False)
    chosen = get_rendering(rendering)
    out = workdir / f"{seed}-{rendering}"
    out.mkdir(parents=True)
    write_estate_files(estate, out, None, chosen)
    url = f"sqlite:///{out / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with serve_in_thread(estate, freeze=False, live=False, rendering=chosen) as running:
        settings = Settings(database_url=url,
                            sources=demo_sources(running.base_url, out, rendering=chosen))
        for source in settings.sources:
            run_source(settings, engine, source, sleep=lambda _s: None)
    truth = estate.truth
    as_of = datetime.fromisoformat(truth["as_of"].replace("Z", "+00:00"))
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    sla = ChargeSla(**truth["sla"])
    compute(engine, sla, now=as_of)
    seconds = time.perf_counter() - started
    e = metric_exceptions
    with engine.connect() as conn:
        rows = list(conn.execute(select(e).where(e.c.status.in_(OPEN))))
    net = build_report(engine, sla, since=start, until=as_of)["network"]
    engine.dispose()
    return {"want": _truth_sets(truth), "got": _found_sets(rows), "net": net,
            "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    from simulator.rendering import RENDERINGS

    parser = argparse.ArgumentParser(prog="python -m bench renderings", description=__doc__)
    parser.add_argument("--seeds", default="5,11")
    parser.add_argument("--preset", default="high")
    parser.add_argument("--facilities", type=int, default=2)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--renderings", default=",".join(RENDERINGS))
    args = parser.parse_args(argv)
    kinds = {"missing_charge": "chg", "late_charge": "late", "duplicate_charge": "dup",
             "no_crosswalk": "xwalk", "cdm_without_hcpcs": "hcpcs", "unknown_item": "item",
             "unit_not_convertible": "unit", "missing_inventory_issue": "issue"}
    with tempfile.TemporaryDirectory(prefix="chargeline-renderings-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            print(f"\nseed {seed}, preset {args.preset}, {args.facilities} facilities x "
                  f"{args.days} days")
            print(f"{'rendering':<12} {'missing':>7} {'leak $':>10} {'late':>5} "
                  f"{'dups':>5} {'dup $':>9} {'fmap':>5} {'no issue':>8} {'qty':>4} "
                  f"{'s':>5}  precision/recall per kind")
            for rendering in args.renderings.split(","):
                r = run_one(seed, args.preset, args.facilities, args.days, rendering,
                            Path(tmp))
                n = r["net"]
                cc, inv, dup = n["charge_capture"], n["inventory"], n["duplicates"]
                fmap = sum(v["count"] for v in n["failed_mappings"].values())
                scores = " ".join(f"{label}:{_score(r['want'][k], r['got'][k])}"
                                  for k, label in kinds.items())
                print(f"{rendering:<12} {cc['missing']:>7} {cc['revenue_leakage_usd']:>10,.2f} "
                      f"{cc['late']:>5} {dup['groups']:>5} {dup['overcharge_usd']:>9,.2f} "
                      f"{fmap:>5} {inv['missing_issues']:>8} {inv['quantity_mismatches']:>4} "
                      f"{r['seconds']:>5.1f}  {scores}")
    return 0
