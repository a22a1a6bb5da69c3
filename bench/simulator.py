"""Demo estate: build time and HTTP page throughput (FHIR and OData) against their goals.

``python -m bench simulator [--facilities 3] [--days 7] [--page 500]`` builds the estate in
this process (goal: 3 facilities x 7 days in a few seconds), then starts ``chargeline
simulate`` in a child process (so client and server do not share a GIL) and walks every
page of ChargeItem, SupplyDelivery and InventoryTransactions with httpx, JSON parse
included (goal: >= 10,000 records/s, what the collectors' benchmark needs from it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

import httpx

BUILD_GOAL_SECONDS = 5.0
RECORDS_PER_SECOND_GOAL = 10_000
END = datetime(2026, 11, 20, tzinfo=UTC)


def _walk(client: httpx.Client, path: str, params: dict[str, int], key: str) -> int:
    url: str | None = path
    query: dict[str, int] | None = params
    records = 0
    while url:
        body = client.get(url, params=query).json()
        query = None
        records += len(body.get(key, []))
        url = body.get("@odata.nextLink") or next(
            (link["url"] for link in body.get("link", []) if link["relation"] == "next"), None)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench simulator", description=__doc__)
    parser.add_argument("--facilities", type=int, default=3)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args(argv)

    from simulator.config import EstateConfig, FaultRates
    from simulator.estate import build_estate

    config = EstateConfig(seed=7, facilities=args.facilities, days=args.days, end=END,
                          faults=FaultRates.preset("none"))
    started = time.perf_counter()
    estate = build_estate(config, progress=False)
    build = time.perf_counter() - started
    print(f"build {args.facilities} facilities x {args.days} days: {build:.2f} s "
          f"({estate.truth['counts']['usage_events']:,} usage events); goal "
          f"{BUILD_GOAL_SECONDS:.0f} s, ratio {BUILD_GOAL_SECONDS / build:.1f}x")
    del estate
    with tempfile.TemporaryDirectory() as out, subprocess.Popen(
            [sys.executable, "-m", "chargeline", "simulate", "--port", "0", "--faults", "none",
             "--facilities", str(args.facilities), "--days", str(args.days),
             "--end", END.date().isoformat(), "--out", out],
            stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            base = next(line.split()[-1] for line in server.stdout
                        if line.startswith("base URL:"))
            with httpx.Client(base_url=base, timeout=60) as client:
                token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=("chargeline", "demo-secret")).json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"
                for label, path, params, key in (
                        ("FHIR ChargeItem", "/billing/fhir/ChargeItem", {"_count": args.page},
                         "entry"),
                        ("FHIR SupplyDelivery", "/ehr/fhir/SupplyDelivery",
                         {"_count": args.page}, "entry"),
                        ("OData InventoryTransactions", "/erp/odata/InventoryTransactions",
                         {"$top": args.page}, "value")):
                    t0 = time.perf_counter()
                    records = _walk(client, path, params, key)
                    rate = records / (time.perf_counter() - t0)
                    print(f"{label:<28} {records:>7,} records  {rate:>9,.0f} records/s  "
                          f"goal {RECORDS_PER_SECOND_GOAL:,}, ratio "
                          f"{rate / RECORDS_PER_SECOND_GOAL:.1f}x")
        finally:
            server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
