"""Master data, feeds and the vectorised formatting helpers of ``bench.datagen``: the
facilities, locations, item master, charge master, crosswalk and contract prices of a
generated estate, and its channel snapshots, collector runs and API calls (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

Row = tuple[Any, ...]
Tables = dict[str, tuple[Sequence[str], list[Row]]]

LINEAGE = ("source", "record_hash", "ingested_at")
LOCATION_KINDS = ("OR1", "OR2", "CATH1", "ED", "ICU", "MEDSURG")
PROCEDURES = ("27447", "27130", "33208", "92928", "49650", "29881", "63650", "19357")
SOURCES = ("ehr-usage", "engine-logs", "engine-stats", "billing", "erp")


# --- time and id formatting (vectorised) ----------------------------------------------------

def _ts(epoch_us: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch -> 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's form)."""
    text = np.datetime_as_string(epoch_us.astype("datetime64[us]"), unit="us")
    return np.strings.replace(text, "T", " ") if text.size else text


def _day(epoch_us: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(epoch_us.astype("datetime64[us]"), unit="D")


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    if numbers.size == 0:  # zfill cannot size an empty array
        return np.array([], dtype=f"<U{width}")
    return np.strings.zfill(numbers.astype(np.int64).astype(str), width)


def _ids(prefix: np.ndarray | str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.add(prefix, _digits(numbers, width))


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _hashes(seed: int, table: int, start: int, n: int) -> list[str]:
    prefix = f"{seed & 0xFFFFFFFF:08x}{table:04x}"  # 12 hex + 20 decimal digits
    return np.strings.add(prefix, _digits(np.arange(start, start + n), 20)).tolist()


def _rows(columns: dict[str, Any], n: int) -> list[Row]:
    """Zip column arrays / lists / scalars into row tuples."""
    cols = []
    for value in columns.values():
        if isinstance(value, np.ndarray):
            cols.append(value.tolist())
        elif isinstance(value, list):
            cols.append(value)
        else:
            cols.append([value] * n)
    return list(zip(*cols, strict=True))


# --- master data ----------------------------------------------------------------------------

def _master(seed: int, n_usage: int, facilities: int, start_us: int, now: str) -> dict[str, Any]:
    """Facilities, locations, item master, CDM, crosswalk, contract prices (pure)."""
    rng = np.random.default_rng(seed + 1)
    facs = [f"FAC{k + 1:02d}" for k in range(facilities)]
    locs = [f"{f}-{kind}" for f in facs for kind in LOCATION_KINDS]
    n_items = int(min(5000, max(200, n_usage // 200)))
    cls = rng.choice(np.array(["IMPLANT", "CONSUMABLE", "DRUG"]), n_items, p=[0.25, 0.65, 0.10])
    chargeable = (cls == "IMPLANT") | ((cls == "CONSUMABLE") & (rng.random(n_items) < 0.7))
    serialised = (cls == "IMPLANT") & (rng.random(n_items) < 0.6)
    box = np.where((cls == "CONSUMABLE") & (rng.random(n_items) < 0.6),
                   rng.choice(np.array([5, 10, 20, 50]), n_items), 0)
    cost = np.round(np.where(cls == "IMPLANT", rng.uniform(150, 9000, n_items),
                             rng.uniform(0.5, 120, n_items)), 2)
    item_ids = _ids("ITM-", np.arange(n_items) + 100000, 6)
    no_xwalk = chargeable & (rng.random(n_items) < 0.01)
    no_xwalk[np.flatnonzero(chargeable & ~serialised & (box == 0))[:1]] = True  # at least one
    xwalked = chargeable & ~no_xwalk
    cdm_codes = _ids("27", np.arange(n_items) + 80000000, 8)  # one CDM line per item
    no_hcpcs = xwalked & (rng.random(n_items) < 0.01)
    no_hcpcs[np.flatnonzero(xwalked & ~serialised & (box == 0))[-1:]] = True
    price = np.round(cost * rng.uniform(2.0, 4.0, n_items), 2)
    return {
        "facilities": facs, "locations": locs, "n_items": n_items, "item_ids": item_ids,
        "cls": cls, "chargeable": chargeable, "serialised": serialised, "box": box,
        "cost": cost, "xwalked": xwalked, "no_xwalk": no_xwalk, "cdm_codes": cdm_codes,
        "no_hcpcs": no_hcpcs, "price": price, "now": now, "start_us": start_us,
    }


def _master_tables(m: dict[str, Any], seed: int) -> Tables:
    now, n = m["now"], m["n_items"]
    valid_from = _day(np.array([m["start_us"] - 365 * 86_400_000_000]))[0]
    facs, locs = m["facilities"], m["locations"]
    items_cols = {
        "item_id": m["item_ids"],
        "description": np.strings.add("ITEM ", m["item_ids"]),
        "uom": "EA", "unit_cost": m["cost"], "item_class": m["cls"],
        "chargeable": m["chargeable"].astype(int), "serialised": m["serialised"].astype(int),
        "gtin": _ids("0088", np.arange(n) + 1, 10), "modified_at": now,
        "source": "erp", "record_hash": _hashes(seed, 3, 0, n), "ingested_at": now,
    }
    boxed = np.flatnonzero(m["box"] > 0)
    uoms = {"item_id": m["item_ids"][boxed], "uom": "BX", "factor": m["box"][boxed],
            "source": "erp", "record_hash": _hashes(seed, 4, 0, len(boxed)), "ingested_at": now}
    xw = np.flatnonzero(m["xwalked"])
    cdm = {
        "cdm_code": m["cdm_codes"][xw], "description": np.strings.add("CHG ", m["item_ids"][xw]),
        "hcpcs": np.where(m["no_hcpcs"][xw], "", np.where(m["cls"][xw] == "IMPLANT", "C1713",
                                                          "A4649")),
        "revenue_code": np.where(m["cls"][xw] == "IMPLANT", "0278", "0272"),
        "price": m["price"][xw],
        "source": "erp", "record_hash": _hashes(seed, 5, 0, len(xw)), "ingested_at": now,
    }
    xwalk = {"item_id": m["item_ids"][xw], "cdm_code": m["cdm_codes"][xw], "source": "erp",
             "record_hash": _hashes(seed, 6, 0, len(xw)), "ingested_at": now}
    contract = {
        "contract_id": _ids("CTR-", np.arange(n), 6), "item_id": m["item_ids"],
        "supplier": "Acme Medical", "price": np.round(m["cost"] * 0.9, 2),
        "valid_from": valid_from, "valid_to": None, "modified_at": now, "source": "erp",
        "record_hash": _hashes(seed, 7, 0, n), "ingested_at": now,
    }
    n_rp = min(n, 400)
    reorder = {
        "item_id": np.repeat(m["item_ids"][:n_rp], len(locs)),
        "location_id": np.tile(np.array(locs), n_rp), "reorder_point": 5, "par_level": 20,
        "source": "erp", "record_hash": _hashes(seed, 8, 0, n_rp * len(locs)),
        "ingested_at": now,
    }
    return {
        "facilities": (("facility_id", "name", *LINEAGE), [
            (f, f"Hospital {f}", "erp", h, now)
            for f, h in zip(facs, _hashes(seed, 1, 0, len(facs)), strict=True)]),
        "locations": (("location_id", "facility_id", "name", "cost_centre", *LINEAGE), [
            (loc, loc.split("-")[0], loc.split("-")[1], f"CC{k:04d}", "erp", h, now)
            for k, (loc, h) in enumerate(zip(locs, _hashes(seed, 2, 0, len(locs)),
                                             strict=True))]),
        "items": (tuple(items_cols), _rows(items_cols, n)),
        "item_uoms": (tuple(uoms), _rows(uoms, len(boxed))),
        "cdm_entries": (tuple(cdm), _rows(cdm, len(xw))),
        "crosswalks": (tuple(xwalk), _rows(xwalk, len(xw))),
        "contract_prices": (tuple(contract), _rows(contract, n)),
        "reorder_points": (tuple(reorder), _rows(reorder, n_rp * len(locs))),
    }


def _feeds(m: dict[str, Any], seed: int, t0_us: int, t1_us: int, nxt: dict[str, int],
           now: str) -> Tables:
    """Hourly channel snapshots; one collector run per source per 15 min, with API calls."""
    rng = np.random.default_rng(seed + 2)
    hours = np.arange(t0_us, t1_us, 3_600_000_000)
    stats: list[Row] = []
    for f in m["facilities"]:
        counts = np.cumsum(rng.integers(20, 80, len(hours)))
        for h, c in zip(_ts(hours).tolist(), counts.tolist(), strict=True):
            stats.append((f"{f}_CHG_OUT", h, f, c, 0, 0, c, c // 300, None, "engine-stats",
                          f"{seed:08x}{c:024x}", now))
    slots = np.arange(t0_us, t1_us, 900_000_000)
    runs: list[Row] = []
    calls: list[Row] = []
    run_no = nxt.get("run", 0)
    for source in SOURCES:
        fails = rng.random(len(slots)) < 0.01
        for s, fail in zip(_ts(slots).tolist(), fails.tolist(), strict=True):
            run_id = f"{seed & 0xFFFF:04x}0000-0000-4000-8000-{run_no:012x}"
            run_no += 1
            status = "error" if fail else "ok"
            runs.append((run_id, source, "bench", s, s, status, 0 if fail else 50, 0,
                         "HTTPStatusError" if fail else "", "503" if fail else "", s))
            if source != "engine-logs":
                calls.append((run_id, source, f"/{source}/api", s, 120.0,
                              503 if fail else 200, 0 if fail else 50,
                              "HTTPStatusError" if fail else "", 1))
    nxt["run"] = run_no
    return {
        "channel_stats": (("channel", "observed_at", "facility_id", "received", "filtered",
                           "queued", "sent", "errored", "oldest_queued_at", *LINEAGE), stats),
        "collector_runs": (("run_id", "source", "collector_id", "started_at", "finished_at",
                            "status", "records", "quarantined", "error_class", "error",
                            "newest_record_at"), runs),
        "api_calls": (("run_id", "source", "endpoint", "started_at", "duration_ms",
                       "status_code", "rows", "error_class", "attempt"), calls),
    }
