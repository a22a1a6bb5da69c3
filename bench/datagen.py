"""Bulk generator of a realistic store for benchmarks: 1M usage events in tens of seconds.

API (shared by ``bench/metrics.py`` and ``bench/pages.py``)::

    from bench.datagen import generate, append
    base = generate(engine, 1_000_000, seed=42, start=None, facilities=3, days=30)
    more = append(engine, 10_000, base=base)      # chainable: append(engine, n, base=more)

``engine`` is a migrated, empty store (``store.engine.make_engine`` + ``store.migrate.upgrade``),
SQLite or PostgreSQL. ``generate`` writes, for ``n_usage`` usage events spread over ``days``
days from ``start`` (default: ``days`` days before today's UTC midnight):

- master data: facilities, 6 locations each, an item master (~n/200 items, 200..5,000:
  implants, consumables with box units, drugs), item_uoms, charge master (cdm_entries),
  crosswalks, contract prices, reorder points; encounters (one per ~4 usages);
- per usage: the usage event, its HL7 DFT^P03 interface message on ``<FAC>_CHG_OUT`` with
  its ``message_usages`` link row, its charge (when chargeable and mapped) and its ERP
  inventory issue; one requisition per ~200 usages;
- the money (``bench.datagen_revenue``): a claim per charged encounter 1-3 days after
  discharge with a line per charge, and its 835 remittance 3-14 days later (8 % denied),
  when due by the window's end (``append``: a month after its new usages);
- feeds: hourly ``channel_stats`` snapshots, a ``collector_runs`` row per source per 15 min
  and its ``api_calls`` (``feeds=False`` leaves them out).

About 7.8 rows per usage event (1M usages ≈ 7.8M rows; 4.9 without the money), built and
written in time slices of ``CHUNK`` usage events so the loader stays near 1 GB of memory.
Faults, each usage drawing at most one (shares of usage events, see ``FAULTS``): the same
usage charged twice, the same HL7 control id posted twice, a serialised implant's serial
charged twice, unknown items, units that do not convert, missing / late charges, missing inventory
issues, NACKs with a re-send, lost usage references (charge matched by control id),
unreferenced ERP issues (fallback match), reversal + re-charge and box-unit traps; 1% of
chargeable items have no crosswalk and 1% of CDM lines no HCPCS.

Rows are written as the collectors write them (``store.upsert.record_row``): every fact
table row carries ``source`` (the demo estate's source names), ``record_hash`` (a
deterministic 32-hex stand-in; nothing but the upsert compares it) and ``ingested_at`` (the
load time, later for ``append``, so incremental metric computation sees only the new rows).
Times are naive UTC in SQLAlchemy's SQLite text form, which PostgreSQL parses as well.
SQLite loads with ``executemany`` in one transaction (journal and sync relaxed for the load
only, restored after); PostgreSQL with ``COPY`` through ``engine.raw_connection()``, then
``ANALYZE`` (what autovacuum would soon do on a store that grew by collection).

Both return an info dict: ``{"seed", "n_usage", "start", "end", "facilities", "rows":
{table: n}, "faults": {kind: n}, "next": {counter: n}, "load_seconds"}`` (``faults`` counts
each fault where it took effect: ``dup_charged_groups`` duplicate groups, ``late_charge``
late charges, ``missing_charge`` chargeable usages never charged, ``no_crosswalk_usages``
usages of items without a crosswalk, ...); pass it as
``base`` to ``append``, which adds ``n_new`` usage events (with their hops) in the hours
after ``end``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from bench.datagen_master import (
    LINEAGE,
    LOCATION_KINDS,
    PROCEDURES,
    Row,
    Tables,
    _day,
    _digits,
    _feeds,
    _hashes,
    _ids,
    _master,
    _master_tables,
    _rows,
    _stamp,
    _ts,
    _us,
)
from bench.datagen_revenue import revenue_tables

SLA_MINUTES = {"IMPLANT": 120, "CONSUMABLE": 1440, "DRUG": 1440}
CHUNK = 100_000  # usage events built and written at a time
FAULTS = {  # share of usage events; each usage draws at most one
    "dup_same_usage": 0.004,
    "dup_same_message": 0.002,
    "dup_serial": 0.002,
    "unknown_item": 0.002,
    "unit_not_convertible": 0.001,
    "late_charge": 0.008,
    "missing_charge": 0.005,
    "missing_issue": 0.004,
    "nack": 0.003,
    "reversal_recharge": 0.002,
    "bx_conversion": 0.01,
    "lost_usage_ref": 0.05,
    "unreferenced_issue": 0.05,
}
# --- transactions ---------------------------------------------------------------------------

def _draw_faults(rng: np.random.Generator, n: int) -> np.ndarray:
    """One fault code per usage: index into FAULTS, or -1 for a clean usage."""
    edges = np.cumsum(list(FAULTS.values()))
    draw = rng.random(n)
    code = np.searchsorted(edges, draw, side="right")
    return np.where(code < len(FAULTS), code, -1)


def _build(m: dict[str, Any], n: int, seed: int, t0_us: int, span_us: int,
           nxt: dict[str, int], now: str, bill_until_us: int
           ) -> tuple[Tables, dict[str, int], dict[str, int], int]:
    """Usage events and every hop they cause (pure): tables, fault counts, next counters.
    Claims and remittances due by ``bill_until_us`` are written (``bench.datagen_revenue``)."""
    rng = np.random.default_rng(seed)
    n_fac = len(m["facilities"])
    facs = np.array(m["facilities"])
    fault_names = list(FAULTS)
    fault = _draw_faults(rng, n)

    def is_(name: str) -> np.ndarray:
        return fault == fault_names.index(name)

    # encounters: ~4 usages each, in one facility and location, within 3 hours
    n_enc = max(1, n // 4)
    enc_no = nxt["encounter"] + np.arange(n_enc)
    enc_start = t0_us + np.sort(rng.integers(0, max(1, span_us - 3 * 3_600_000_000), n_enc))
    enc_fac = rng.integers(0, n_fac, n_enc)
    enc_loc = enc_fac * len(LOCATION_KINDS) + rng.integers(0, len(LOCATION_KINDS), n_enc)
    enc_ids = np.strings.add(np.strings.add("ENC-", facs[enc_fac]), _ids("-", enc_no, 8))
    tokens = _digits((enc_no * 2654435761 + seed) % (1 << 62), 32)  # a stand-in keyed token
    enc_cols = {
        "encounter_id": enc_ids, "facility_id": facs[enc_fac], "patient_token": tokens,
        "encounter_class": np.where(rng.random(n_enc) < 0.6, "IMP", "AMB"),
        "procedure_code": np.array(PROCEDURES)[rng.integers(0, len(PROCEDURES), n_enc)],
        "started_at": _ts(enc_start), "ended_at": _ts(enc_start + 6 * 3_600_000_000),
        "last_updated": _ts(enc_start + 6 * 3_600_000_000), "source": "billing",
        "record_hash": _hashes(seed, 10, nxt["encounter"], n_enc), "ingested_at": now,
    }

    # usage events
    e = np.sort(rng.integers(0, n_enc, n))
    useq = nxt["usage"] + np.arange(n)
    fac = enc_fac[e]
    used = enc_start[e] + rng.integers(0, 3 * 3_600_000_000, n)
    item = rng.integers(0, m["n_items"], n)
    serial_items = np.flatnonzero(m["serialised"] & m["xwalked"])
    box_items = np.flatnonzero((m["box"] > 0) & m["xwalked"])
    item = np.where(is_("dup_serial"), serial_items[rng.integers(0, len(serial_items), n)], item)
    item = np.where(is_("bx_conversion"), box_items[rng.integers(0, len(box_items), n)], item)
    cls = m["cls"][item]
    qty = np.where(cls == "CONSUMABLE", rng.integers(1, 4, n), 1)
    qty = np.where(is_("bx_conversion"), 1, qty)
    uom = np.where(is_("bx_conversion"), "BX", np.where(is_("unit_not_convertible"), "CS", "EA"))
    factor = np.where(is_("bx_conversion"), m["box"][item], 1)
    base_qty = qty * factor
    unknown = is_("unknown_item")
    item_ref = np.where(unknown, _ids("UNK-", useq, 9), m["item_ids"][item])
    usage_ids = np.strings.add(np.strings.add("U-", facs[fac]), _ids("-", useq, 9))
    serial = np.where(m["serialised"][item], _ids("SN", useq, 10), "")
    lot = _ids("LOT", rng.integers(0, 50_000, n), 6)
    usage_cols = {
        "usage_id": usage_ids, "facility_id": facs[fac],
        "location_id": np.array(m["locations"])[enc_loc[e]], "encounter_id": enc_ids[e],
        "patient_token": tokens[e], "item_ref": item_ref, "quantity": qty, "uom": uom,
        "lot": lot, "serial": serial, "clinician_id": _ids("CLIN-", rng.integers(0, 400, n), 4),
        "used_at": _ts(used), "recorded_at": _ts(used + rng.integers(1, 300, n) * 1_000_000),
        "source": "ehr-usage", "record_hash": _hashes(seed, 11, nxt["usage"], n),
        "ingested_at": now,
    }

    # interface messages: one DFT^P03 per usage; a NACKed one is re-sent as <id>-R1
    channel = np.strings.add(facs[fac], "_CHG_OUT")
    control = np.strings.add(np.strings.add("MSG-", facs[fac]), _ids("-", useq, 9))
    received = used + rng.integers(2_000_000, 120_000_000, n)
    sent = received + rng.integers(500_000, 5_000_000, n)
    nack = is_("nack")
    msg_cols = {
        "channel": channel, "control_id": control, "message_type": "DFT^P03",
        "facility_id": facs[fac], "encounter_id": enc_ids[e], "patient_token": tokens[e],
        "received_at": _ts(received), "sent_at": _ts(sent),
        "status": np.where(nack, "E", "S"), "ack_code": np.where(nack, "AE", "AA"),
        "error": np.where(nack, "AE: charge code rejected by billing", ""), "resend_of": "",
    }
    rs = np.flatnonzero(nack)
    resend_ctl = np.strings.add(control[rs], "-R1")
    resend_cols = {
        "channel": channel[rs], "control_id": resend_ctl, "message_type": "DFT^P03",
        "facility_id": facs[fac][rs], "encounter_id": enc_ids[e][rs],
        "patient_token": tokens[e][rs], "received_at": _ts(sent[rs] + 60_000_000),
        "sent_at": _ts(sent[rs] + 62_000_000), "status": "S", "ack_code": "AA", "error": "",
        "resend_of": control[rs],
    }
    n_msg = n + len(rs)
    msg_rows = _rows(msg_cols, n) + _rows(resend_cols, len(rs))
    msg_rows = [(*r, "engine-logs", h, now) for r, h in zip(
        msg_rows, _hashes(seed, 12, nxt["usage"] * 2, n_msg), strict=True)]
    # a link carries its message's facility (a message's key is channel, control id, facility)
    link_rows = _rows({"channel": channel, "control_id": control, "usage_id": usage_ids,
                       "facility_id": facs[fac]}, n) + \
        _rows({"channel": channel[rs], "control_id": resend_ctl, "usage_id": usage_ids[rs],
               "facility_id": facs[fac][rs]}, len(rs))
    charge_ctl = control.copy()
    charge_ctl[rs] = resend_ctl

    # charges
    mapped = ~unknown & ~is_("unit_not_convertible") & m["xwalked"][item]
    charged = mapped & m["chargeable"][item] & ~is_("missing_charge")
    sla_us = np.where(cls == "IMPLANT", SLA_MINUTES["IMPLANT"], SLA_MINUTES["CONSUMABLE"]
                      ) * 60_000_000
    delay = np.where(is_("late_charge"), sla_us + rng.integers(30, 600, n) * 60_000_000,
                     rng.integers(60, 3600, n) * 1_000_000 + (received - used))
    posted = used + delay
    price = m["price"][item]
    amount = np.round(base_qty * price, 2)
    lost_ref = is_("lost_usage_ref") | is_("dup_same_message")
    base_charge = {
        "facility_id": facs[fac], "encounter_id": enc_ids[e], "patient_token": tokens[e],
        "cdm_code": m["cdm_codes"][item], "quantity": base_qty, "amount": amount,
        "service_date": _day(used), "posted_at": posted, "status": "posted",
        "reverses_charge_id": "", "usage_id": np.where(lost_ref, "", usage_ids),
        "control_id": charge_ctl, "lot": lot, "serial": serial,
    }
    parts: list[tuple[np.ndarray, dict[str, Any]]] = [(np.flatnonzero(charged), {})]
    for name, later, overrides in (
        ("dup_same_usage", 1_800_000_000, {"control_id": "RESENT"}),
        ("dup_same_message", 600_000_000, {}),
        ("dup_serial", 3_600_000_000, {"usage_id": "", "control_id": ""}),
        ("reversal_recharge", 7_200_000_000, {"status": "credit"}),
        ("reversal_recharge", 10_800_000_000, {}),
    ):
        parts.append((np.flatnonzero(charged & is_(name)), {"later": later, **overrides}))
    charge_rows: list[Row] = []
    k = nxt["charge"]
    first_ids: dict[int, str] = {}
    first_cid = np.array([], dtype=str)
    for p, (idx, ov) in enumerate(parts):
        cols = {c: (v[idx] if isinstance(v, np.ndarray) else v) for c, v in base_charge.items()}
        cid = np.strings.add(np.strings.add("CHG-", cols["facility_id"]),
                             _ids("-", k + np.arange(len(idx)), 9))
        k += len(idx)
        if p == 0:
            first_cid = cid
            first_ids = dict(zip(idx.tolist(), cid.tolist(), strict=True))
        cols["posted_at"] = cols["posted_at"] + ov.get("later", 0)
        if ov.get("status") == "credit":
            cols["status"] = "credit"
            cols["quantity"] = -cols["quantity"]
            cols["amount"] = -cols["amount"]
            cols["reverses_charge_id"] = [first_ids[i] for i in idx.tolist()]
        if ov.get("control_id") == "RESENT":
            cols["control_id"] = np.strings.add(cols["control_id"], "-D")
        elif "control_id" in ov:
            cols["control_id"] = ov["control_id"]
        if "usage_id" in ov:
            cols["usage_id"] = ov["usage_id"]
        stamp = _ts(cols["posted_at"])
        cols["posted_at"] = stamp
        ordered = {"charge_id": cid, **cols, "last_updated": stamp, "source": "billing",
                   "record_hash": _hashes(seed, 13 + p, k, len(idx)), "ingested_at": now}
        charge_rows += _rows(ordered, len(idx))
    charge_cols = ("charge_id", *base_charge, "last_updated", *LINEAGE)

    # inventory issues (in the scanned unit), some without the usage reference
    issued = ~unknown & ~is_("unit_not_convertible") & ~is_("missing_issue")
    idx = np.flatnonzero(issued)
    inv_posted = used[idx] + rng.integers(5, 180, len(idx)) * 60_000_000
    inv_cols = {
        "document_id": np.strings.add(np.strings.add("INV-", facs[fac][idx]),
                                      _ids("-", nxt["issue"] + np.arange(len(idx)), 9)),
        "facility_id": facs[fac][idx], "location_id": usage_cols["location_id"][idx],
        "item_id": m["item_ids"][item][idx], "txn_type": "ISSUE", "quantity": qty[idx],
        "uom": uom[idx], "lot": lot[idx], "serial": serial[idx],
        "usage_id": np.where(is_("unreferenced_issue")[idx], "", usage_ids[idx]),
        # booked at the contract price (datagen_master: 0.9 x cost, valid all along), as
        # the demo estate's ERP books them: supply cost above contract reads none
        "unit_cost": np.round(m["cost"][item][idx] * 0.9, 2), "posted_at": _ts(inv_posted),
        "modified_at": _ts(inv_posted), "source": "erp",
        "record_hash": _hashes(seed, 20, nxt["issue"], len(idx)), "ingested_at": now,
    }

    # one requisition per ~200 usages, at the usage's location and item
    ridx = idx[:: 200]
    created = used[ridx] + 1_800_000_000
    ordered_at = created + rng.integers(1, 24, len(ridx)) * 3_600_000_000
    received_at = ordered_at + rng.integers(1, 5, len(ridx)) * 86_400_000_000
    done = received_at < t0_us + span_us
    req_cols = {
        "document_id": _ids("REQ-", nxt["requisition"] + np.arange(len(ridx)), 9),
        "doc_kind": "REQUISITION", "facility_id": facs[fac][ridx],
        "location_id": usage_cols["location_id"][ridx], "item_id": m["item_ids"][item][ridx],
        "quantity": 10, "status": np.where(done, "RECEIVED", "ORDERED"),
        "created_at": _ts(created), "ordered_at": _ts(ordered_at),
        "received_at": [s if d else None for s, d in zip(
            _ts(received_at).tolist(), done.tolist(), strict=True)],
        "modified_at": _ts(ordered_at), "source": "erp",
        "record_hash": _hashes(seed, 21, nxt["requisition"], len(ridx)), "ingested_at": now,
    }

    first = parts[0][0]  # the charged usages, in order, and first_cid their first charges
    money = revenue_tables(
        rng, seed=seed, now=now, enc_no=enc_no,
        charge_ids=first_cid,
        charge_enc=e[first], amount=amount[first], units=base_qty[first],
        service_us=used[first],
        hcpcs=np.where(m["no_hcpcs"][item], "", np.where(cls == "IMPLANT", "C1713",
                                                         "A4649"))[first],
        revenue_code=np.where(cls == "IMPLANT", "0278", "0272")[first], enc_ids=enc_ids,
        enc_fac=facs[enc_fac], tokens=tokens, enc_end_us=enc_start + 6 * 3_600_000_000,
        bill_until_us=bill_until_us)

    tables: Tables = {
        "encounters": (tuple(enc_cols), _rows(enc_cols, n_enc)),
        "usage_events": (tuple(usage_cols), _rows(usage_cols, n)),
        "interface_messages": ((*msg_cols, *LINEAGE), msg_rows),
        "message_usages": (("channel", "control_id", "usage_id", "facility_id"), link_rows),
        "charges": (charge_cols, charge_rows),
        "inventory_transactions": (tuple(inv_cols), _rows(inv_cols, len(idx))),
        "replenishment_documents": (tuple(req_cols), _rows(req_cols, len(ridx))),
        **money,
    }
    # Count a fault only where it took effect (a late charge needs a chargeable item).
    effective = {"late_charge": charged, "reversal_recharge": charged,
                 "lost_usage_ref": charged, "dup_same_usage": charged,
                 "dup_same_message": charged, "dup_serial": charged,
                 "missing_charge": mapped & m["chargeable"][item]}
    faults = {name: int(np.count_nonzero(is_(name) & effective.get(name, True)))
              for name in fault_names}
    faults["dup_charged_groups"] = sum(faults[d] for d in (
        "dup_same_usage", "dup_same_message", "dup_serial"))
    faults["no_crosswalk_usages"] = int(np.count_nonzero(
        m["no_xwalk"][item] & ~unknown & ~is_("unit_not_convertible")))
    new_next = {"usage": nxt["usage"] + n, "encounter": nxt["encounter"] + n_enc,
                "charge": k, "issue": nxt["issue"] + len(idx),
                "requisition": nxt["requisition"] + len(ridx)}
    return tables, faults, new_next, int(used.max()) if n else t0_us


# --- writers --------------------------------------------------------------------------------

class _Writer:
    """Bulk inserts on one connection: executemany in one SQLite transaction (journal and
    sync relaxed until the end), or COPY on PostgreSQL then ANALYZE of what was loaded."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"no bulk writer for {engine.dialect.name}")
        self.sqlite = engine.dialect.name == "sqlite"
        self.raw = engine.raw_connection()
        self.db = self.raw.driver_connection
        self.touched: set[str] = set()
        if self.sqlite:
            self.db.execute("PRAGMA journal_mode=MEMORY")  # bench load only; restored
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("BEGIN")

    def put(self, tables: Tables) -> None:
        for name, (cols, rows) in tables.items():
            if not rows:
                continue
            self.touched.add(name)
            if self.sqlite:
                marks = ", ".join("?" * len(cols))
                self.db.executemany(
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})", rows)
                continue
            with self.db.cursor() as cur, cur.copy(
                    f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def close(self) -> None:
        try:
            if self.sqlite:
                self.db.execute("COMMIT")
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            else:
                self.db.commit()
                self.db.autocommit = True
                with self.db.cursor() as cur:
                    for name in sorted(self.touched):
                        cur.execute(f"ANALYZE {name}")
                self.db.autocommit = False
        finally:
            self.raw.close()


def write(engine: Engine, tables: Tables) -> None:
    """Bulk-insert prepared rows (executemany on SQLite, COPY on PostgreSQL)."""
    writer = _Writer(engine)
    try:
        writer.put(tables)
    finally:
        writer.close()


def _counts(tables: Tables) -> dict[str, int]:
    return {name: len(rows) for name, (_, rows) in tables.items()}


def _default_start(days: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def generate(engine: Engine, n_usage: int, *, seed: int = 42, start: datetime | None = None,
             facilities: int = 3, days: int = 30, feeds: bool = True) -> dict[str, Any]:
    """Load master data and ``n_usage`` usage events with every hop into an empty store."""
    started = time.perf_counter()
    start = start or _default_start(days)
    t0, span = _us(start), days * 86_400_000_000
    now = _stamp(datetime.now(UTC))
    m = _master(seed, n_usage, facilities, t0, now)
    nxt = {"usage": 0, "encounter": 0, "charge": 0, "issue": 0, "requisition": 0, "run": 0}
    master = _master_tables(m, seed)
    rows, last, build = _counts(master), t0, 0.0
    faults: dict[str, int] = {}
    writer = _Writer(engine)
    try:
        writer.put(master)
        # Time slices of CHUNK usages each keep the rows in memory small (~0.5 GB).
        chunks = max(1, -(-n_usage // CHUNK))
        for k in range(chunks):
            t = time.perf_counter()
            n_k = n_usage // chunks + (1 if k < n_usage % chunks else 0)
            lo, hi = t0 + span * k // chunks, t0 + span * (k + 1) // chunks
            txns, f, nxt, last_k = _build(m, n_k, seed + 7919 * k, lo, hi - lo, nxt, now,
                                          t0 + span)
            if feeds and k == chunks - 1:
                txns.update(_feeds(m, seed, t0, t0 + span, nxt, now))
            build += time.perf_counter() - t
            writer.put(txns)
            last = max(last, last_k)
            for name, n in _counts(txns).items():
                rows[name] = rows.get(name, 0) + n
            for name, n in f.items():
                faults[name] = faults.get(name, 0) + n
            del txns
    finally:
        writer.close()
    end = datetime.fromtimestamp(max(last, t0) / 1e6, UTC)
    return {
        "seed": seed, "n_usage": n_usage, "master_n": n_usage, "start": start, "end": end,
        "facilities": facilities, "days": days, "rows": rows, "faults": faults,
        "no_crosswalk_items": int(np.count_nonzero(m["no_xwalk"])),
        "cdm_without_hcpcs": int(np.count_nonzero(m["no_hcpcs"])),
        "next": nxt, "build_seconds": build,
        "load_seconds": time.perf_counter() - started,
    }


def append(engine: Engine, n_new: int, *, base: dict[str, Any], seed: int | None = None,
           hours: float | None = None) -> dict[str, Any]:
    """Add ``n_new`` usage events (with messages, charges, issues) after ``base["end"]``.

    They span ``hours`` (default: the base load's rate, at least one hour) and are ingested
    now, so an incremental metric pass sees exactly them. Returns the next ``base``."""
    started = time.perf_counter()
    seed = base["seed"] + base["next"]["usage"] if seed is None else seed
    rate = base["n_usage"] / (base["days"] * 24.0)
    hours = hours or max(1.0, n_new / max(rate, 1.0))
    t0 = _us(base["end"]) + 60_000_000
    now = _stamp(datetime.now(UTC))
    m = _master(base["seed"], base["master_n"], base["facilities"], _us(base["start"]), now)
    span = int(hours * 3_600_000_000)
    # as if a month passed: the new encounters are billed and their claims answered
    txns, faults, nxt, last = _build(m, n_new, seed, t0, span, dict(base["next"]), now,
                                     t0 + span + 30 * 86_400_000_000)
    write(engine, txns)
    total = {k: base["faults"].get(k, 0) + v for k, v in faults.items()}
    rows = {k: base["rows"].get(k, 0) + v for k, v in _counts(txns).items()}
    return {**base, "n_usage": base["n_usage"] + n_new, "end": datetime.fromtimestamp(
        last / 1e6, UTC), "rows": {**base["rows"], **rows}, "faults": total, "next": nxt,
        "appended": n_new, "load_seconds": time.perf_counter() - started}


def total_rows(info: dict[str, Any], tables: Iterable[str] | None = None) -> int:
    """Rows written, over ``tables`` (default: all)."""
    rows = info["rows"]
    return sum(rows[t] for t in (tables if tables is not None else rows))
