"""Retention: age canonical records out of the store, a batch of encounters at a time.

The unit is the **encounter** (every key that ties records together lives inside one, the
incremental pass's own unit): an encounter is aged out once every record of it is older
than the cutoff (``cutoff_for``: ``raw_months`` calendar months before now, at UTC
midnight) — its scans, the messages that name them, its charges, and the inventory
transactions that name or were linked to its scans. An encounter with one newer record
stays whole. Its derived rows go with it (usage and charge facts, links, duplicate
extras); the exception queue's rows stay, and what the removed facts backed is regrouped
or resolved as an incremental pass would (``sync_exceptions`` over these encounters).

Hourly and daily metric points are **kept**: hours before the cutoff become final. The
cutoff is stored (``metric_state.retained_before``, moved forward only) and every later
pass, full or incremental, leaves the points of hours before it as they are and computes
the hours after it from the facts (``metrics.compute.points``): so a full pass over the
retained records gives what incremental passes give, and neither rewrites history it no
longer holds the records of.

Each batch is one transaction; the candidates come from an index range of the old scans
(``ix_usage_events_facility_used``), oldest first, so the cost follows what is aged out,
not the store. Records no scan of an aged-out encounter reaches stay: messages that name
no usage, charges of encounters without scans, receipts and cycle counts, requisitions,
claims and remittances, engine counters, API calls and the quarantine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)

from metrics.compute.exceptions import note_mapping_subjects, sync_exceptions
from metrics.compute.pass_tables import (
    pass_dirty_encounters,
    pass_mapping_subjects,
    pass_problems,
    pass_tables,
)
from metrics.compute.points import RETAINED_BEFORE, retained_before
from metrics.compute.run import overlap_unchanged, rebase_overlap
from store.schema import (
    charges,
    encounters,
    interface_messages,
    inventory_transactions,
    message_usages,
    usage_events,
)
from store.schema_metrics import (
    metric_charge_facts,
    metric_duplicates,
    metric_encounter_billing,
    metric_links,
    metric_state,
    metric_usage_facts,
)
from store.upsert import upsert_rows

TABLES = ("usage_events", "interface_messages", "message_usages", "charges",
          "inventory_transactions", "encounters", "metric_usage_facts",
          "metric_charge_facts", "metric_links", "metric_duplicates",
          "metric_encounter_billing")


def cutoff_for(now: datetime, months: int) -> datetime:
    """UTC midnight of the day ``months`` calendar months before ``now`` (the day clamped
    to the month's length): records before it are aged out."""
    if months < 1:
        raise ValueError(f"retention of {months} months: keep at least 1 month")
    day = now.astimezone(UTC).date()
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    first_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (first_next - timedelta(days=1)).day
    return datetime(year, month + 1, min(day.day, last_day), tzinfo=UTC)


@dataclass
class RetentionResult:
    """What a run did (or, dry, would do): rows per table, encounters, batches."""

    cutoff: datetime
    dry_run: bool
    encounters: int = 0
    kept_encounters: int = 0  # old scans, but a record of the encounter is newer
    batches: int = 0
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    @property
    def canonical_rows(self) -> int:
        return sum(n for name, n in self.rows.items() if not name.startswith("metric_"))

    def summary(self) -> str:
        verb = "would age out" if self.dry_run else "aged out"
        rate = self.canonical_rows / self.seconds if self.seconds > 0 else 0.0
        per = ", ".join(f"{name} {n:,}" for name, n in self.rows.items() if n)
        return (f"{verb} {self.encounters:,} encounters before {self.cutoff:%Y-%m-%d} "
                f"({self.kept_encounters:,} with newer records kept): "
                f"{self.canonical_rows:,} canonical rows in {self.seconds:.1f} s "
                f"({rate:,.0f} rows/s, {self.batches} batches){': ' + per if per else ''}")


Guard = Callable[[], AbstractContextManager[Any]]


def retain(engine: Engine, cutoff: datetime, *, batch: int = 2000, dry_run: bool = False,
           now: datetime | None = None, guard: Guard = nullcontext,
           progress: Callable[[RetentionResult], None] | None = None) -> RetentionResult:
    """Age out every encounter whose records are all older than ``cutoff``, ``batch``
    encounters per transaction (``guard()`` is entered around each: the collector process
    holds the metrics pass's lease there). ``dry_run`` does each batch's work and rolls it
    back. ``progress`` gets the running totals after every batch."""
    now = now or datetime.now(UTC)
    result = RetentionResult(cutoff, dry_run)
    started = time.perf_counter()
    for candidates in _candidate_batches(engine, cutoff, batch):
        with guard(), engine.connect() as conn:
            transaction = conn.begin()
            try:
                _age_out(conn, candidates, cutoff, now, result)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        result.batches += 1
        result.seconds = time.perf_counter() - started
        if progress is not None:
            progress(result)
    result.seconds = time.perf_counter() - started
    return result


def _facilities(conn: Connection) -> list[str]:
    """The facilities of the scans, one index seek each (a DISTINCT would read the whole
    ``(facility_id, used_at)`` index on SQLite)."""
    u = usage_events
    out: list[str] = []
    while True:
        query = select(func.min(u.c.facility_id))
        if out:
            query = query.where(u.c.facility_id > out[-1])
        nxt = conn.execute(query).scalar()
        if nxt is None:
            return out
        out.append(nxt)


def _candidate_batches(engine: Engine, cutoff: datetime, batch: int) -> Iterator[list[str]]:
    """Encounters with a scan before ``cutoff``, oldest scans first, ``batch`` at a time:
    per facility, an index range of ``(facility_id, used_at)`` read forward from a cursor,
    so no batch reads again what an earlier one read (only the rows at the cursor's own
    instant)."""
    u = usage_events
    read = batch * 8
    with engine.connect() as conn:
        facilities = _facilities(conn)
    seen: set[str] = set()
    for facility in facilities:
        cursor: datetime | None = None
        strict = False  # past the cursor's instant (it held a whole read of seen rows)
        while True:
            query = select(u.c.encounter_id, u.c.used_at).where(
                u.c.facility_id == facility, u.c.used_at < cutoff)
            if cursor is not None:
                query = query.where(u.c.used_at > cursor if strict else u.c.used_at >= cursor)
            with engine.connect() as conn:
                rows = conn.execute(query.order_by(u.c.used_at).limit(read)).all()
            fresh = list(dict.fromkeys(r.encounter_id for r in rows
                                       if r.encounter_id not in seen))
            for i in range(0, len(fresh), batch):
                chunk = fresh[i:i + batch]
                seen.update(chunk)
                yield chunk
            if len(rows) < read:
                break
            strict = not fresh and cursor == rows[-1].used_at
            cursor = rows[-1].used_at


CHUNK = 5000  # values per IN list (PostgreSQL takes at most 65,535 parameters)


def _chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    values = list(values)
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def _rows_in(conn: Connection, query: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    """``query`` where ``column`` is one of ``values``, an IN list of ``CHUNK`` at a time."""
    return [row for part in _chunks(values) for row in conn.execute(
        query.where(column.in_(part))).all()]


def _delete_in(conn: Connection, table: Any, column: Any, values: Sequence[Any],
               *also: Any) -> int:
    """Delete the rows of ``table`` whose ``column`` is one of ``values``; how many."""
    return sum(conn.execute(delete(table).where(column.in_(part), *also)).rowcount or 0
               for part in _chunks(values))


def _age_out(conn: Connection, candidates: list[str], cutoff: datetime, now: datetime,
             result: RetentionResult) -> None:
    """One batch in the caller's transaction: decide which candidates are wholly old,
    then remove them and their derived rows."""
    u, c, mu, m, t, ml = (usage_events, charges, message_usages, interface_messages,
                          inventory_transactions, metric_links)
    newer: set[str] = set()
    usages: dict[str, str] = {}  # usage id -> encounter
    for row in _rows_in(conn, select(u.c.usage_id, u.c.encounter_id, u.c.used_at),
                        u.c.encounter_id, candidates):
        usages[row.usage_id] = row.encounter_id
        if row.used_at >= cutoff:
            newer.add(row.encounter_id)
    newer.update(r.encounter_id for r in _rows_in(
        conn, select(c.c.encounter_id).where(c.c.posted_at >= cutoff), c.c.encounter_id,
        candidates))
    messages: dict[tuple[str, str, str], set[str]] = {}  # message key -> usages it names
    for row in _rows_in(conn, select(mu.c.channel, mu.c.control_id, mu.c.facility_id,
                                     mu.c.usage_id), mu.c.usage_id, list(usages)):
        messages.setdefault((row.channel, row.control_id, row.facility_id), set()).add(
            row.usage_id)
    # their receipt times, by the control id index (a row-value IN list is no index probe
    # on PostgreSQL: it read every message of the store)
    for row in _rows_in(conn, select(m.c.channel, m.c.control_id, m.c.facility_id,
                                     m.c.received_at), m.c.control_id,
                        list({k[1] for k in messages})):
        named = messages.get((row.channel, row.control_id, row.facility_id))
        if named and row.received_at >= cutoff:
            newer.update(usages[uid] for uid in named)
    documents: dict[str, str] = {}  # inventory document -> the usage it belongs to
    for row in _rows_in(conn, select(t.c.document_id, t.c.usage_id), t.c.usage_id,
                        list(usages)):
        documents[row.document_id] = row.usage_id
    for row in _rows_in(conn, select(ml.c.target_id, ml.c.usage_id).where(
            ml.c.hop == "inventory"), ml.c.usage_id, list(usages)):
        documents.setdefault(row.target_id, row.usage_id)
    late = select(t.c.document_id).where(or_(t.c.posted_at >= cutoff, t.c.moved_at >= cutoff))
    newer.update(usages[documents[r.document_id]]
                 for r in _rows_in(conn, late, t.c.document_id, list(documents)))

    scanned = set(usages.values())  # another run may have taken some meanwhile
    gone = [e for e in candidates if e in scanned and e not in newer]
    result.kept_encounters += len(scanned) - len(gone)
    result.encounters += len(gone)
    if not gone:
        return
    gone_set = set(gone)
    gone_usages = [uid for uid, enc in usages.items() if enc in gone_set]
    gone_docs = [d for d, uid in documents.items() if usages[uid] in gone_set]
    gone_usage_set = set(gone_usages)
    # a message goes once every usage it names goes (one naming a kept usage stays)
    gone_messages = [key for key, named in messages.items() if named <= gone_usage_set]
    _note_horizon(conn, cutoff, now)
    # The next pass re-reads the rows ingested just before its watermark when their count
    # there changed (a late commit); rows aged out of that interval are no late commit.
    unchanged = overlap_unchanged(conn)
    counts = result.rows
    with pass_tables(conn, only=(pass_dirty_encounters, pass_mapping_subjects, pass_problems)):
        for part in _chunks(gone):
            conn.execute(insert(pass_dirty_encounters), [{"encounter_id": e} for e in part])
        note_mapping_subjects(conn)  # the failed mappings these usages counted in
        for table in (metric_usage_facts, metric_charge_facts, metric_duplicates,
                      metric_encounter_billing):
            counts[table.name] += _delete_in(conn, table, table.c.encounter_id, gone)
        counts[ml.name] += _delete_in(conn, ml, ml.c.encounter_id, gone)
        counts[ml.name] += _delete_in(conn, ml, ml.c.usage_id, gone_usages)
        sync_exceptions(conn, now, False)  # regroup those, resolve what nothing backs now
    counts[mu.name] += _delete_in(conn, mu, mu.c.usage_id, gone_usages)
    named = exists().where(mu.c.channel == m.c.channel, mu.c.control_id == m.c.control_id,
                           mu.c.facility_id == m.c.facility_id)
    if gone_messages:  # one primary-key probe each; not those another usage still names
        drop = delete(m).where(m.c.channel == bindparam("c"), m.c.control_id == bindparam("k"),
                               m.c.facility_id == bindparam("f"), ~named)
        before = _count_messages(conn, gone_messages)
        conn.execute(drop, [{"c": c_, "k": k, "f": f} for c_, k, f in gone_messages])
        counts[m.name] += before - _count_messages(conn, gone_messages)
    counts[t.name] += _delete_in(conn, t, t.c.document_id, gone_docs)
    counts[c.name] += _delete_in(conn, c, c.c.encounter_id, gone)
    counts[u.name] += _delete_in(conn, u, u.c.encounter_id, gone)
    counts[encounters.name] += _delete_in(conn, encounters, encounters.c.encounter_id, gone)
    if unchanged:
        rebase_overlap(conn, now)


def _count_messages(conn: Connection, keys: list[tuple[str, str, str]]) -> int:
    """How many of the messages ``keys`` name are stored (by the control id index; an
    executemany DELETE reports no reliable row count on every driver)."""
    m = interface_messages
    wanted = set(keys)
    rows = _rows_in(conn, select(m.c.channel, m.c.control_id, m.c.facility_id),
                    m.c.control_id, list({k[1] for k in keys}))
    return sum(1 for r in rows if (r.channel, r.control_id, r.facility_id) in wanted)


def _note_horizon(conn: Connection, cutoff: datetime, now: datetime) -> None:
    """Move ``retained_before`` forward to ``cutoff`` (never back)."""
    current = retained_before(conn)
    if current is None or cutoff > current:
        upsert_rows(conn, metric_state, [{"name": RETAINED_BEFORE,
                                          "value": cutoff.isoformat(), "updated_at": now}])


def describe(result: RetentionResult) -> str:
    """The run as one JSON line (for logs and scripts)."""
    return json.dumps({"cutoff": result.cutoff.isoformat(), "dry_run": result.dry_run,
                       "encounters": result.encounters, "kept": result.kept_encounters,
                       "batches": result.batches, "seconds": round(result.seconds, 3),
                       "rows": result.rows})
