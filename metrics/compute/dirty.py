"""What an incremental pass must redo: the encounters new rows can change, and the hours
new feed rows fall in.

Work is cut by *encounter* because every key that ties records together is inside one:
a usage's messages, charges and issues, duplicate keys and the fallback matches. An
encounter is dirty when a row ingested since the watermark names it (directly or through
a usage it references), when a master-data change touches an item it used, when an
unreferenced ERP issue lands at a location and item it scanned nearby in time, or when a
usage of it was ``pending`` and the billing or ERP feed has now moved past its deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    func,
    literal,
    select,
    text,
    true,
    tuple_,
    union,
)

from core.config import ChargeSla
from metrics.compute.pass_tables import pass_dirty_encounters
from metrics.compute.stitching import FALLBACK_ISSUE_DAYS
from store.schema import (
    api_calls,
    cdm_entries,
    charges,
    contract_prices,
    crosswalks,
    encounters,
    interface_messages,
    inventory_transactions,
    item_uoms,
    items,
    message_usages,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_links, metric_usage_facts
from store.sqlfn import add_seconds, hour_floor, in_rows, seconds_between
from store.types import UtcDateTime
from store.upsert import dialect_insert

WINDOW_S = FALLBACK_ISSUE_DAYS * 86400.0


def _changed_items(since: datetime) -> Select:
    """Items whose master data changed: the item, a unit, its crosswalk, its CDM line,
    a contract price."""
    return union(
        select(items.c.item_id).where(items.c.ingested_at > since),
        select(item_uoms.c.item_id).where(item_uoms.c.ingested_at > since),
        select(crosswalks.c.item_id).where(crosswalks.c.ingested_at > since),
        select(contract_prices.c.item_id).where(contract_prices.c.ingested_at > since),
        select(crosswalks.c.item_id).select_from(crosswalks.join(
            cdm_entries, cdm_entries.c.cdm_code == crosswalks.c.cdm_code))
        .where(cdm_entries.c.ingested_at > since),
    )


def master_changed(conn: Connection, since: datetime) -> bool:
    """Whether any item, unit, crosswalk, CDM line or contract was ingested since."""
    return conn.execute(select(_changed_items(since).subquery().c[0]).limit(1)).first() \
        is not None


def _spot_neighbours(location: ColumnElement[str], item: ColumnElement[str],
                     at: ColumnElement[datetime]) -> ColumnElement[bool]:
    """A usage at the same location and item within the fallback window of ``at`` (a
    second wider, so rounding never leaves out a pair the stitching makes): a range of
    the spot index ``(location_id, item_ref, used_at)``, not a filter on every scan of
    the spot."""
    u = usage_events
    return and_(u.c.location_id == location, u.c.item_ref == item,
                u.c.used_at >= add_seconds(at, -WINDOW_S - 1.0),
                u.c.used_at <= add_seconds(at, WINDOW_S + 1.0))


def _encounter_sources(since: datetime, master_since: datetime) -> list[Select]:
    u, c, m, mu, t, ml = (usage_events, charges, interface_messages, message_usages,
                          inventory_transactions, metric_links)
    orig = charges.alias("orig")
    new_u = usage_events.alias("new_u")
    unref = inventory_transactions.alias("unref")
    return [
        select(u.c.encounter_id).where(u.c.ingested_at > since),
        select(c.c.encounter_id).where(c.c.ingested_at > since),
        select(u.c.encounter_id).select_from(c.join(u, u.c.usage_id == c.c.usage_id))
        .where(c.c.ingested_at > since),
        select(orig.c.encounter_id).select_from(
            c.join(orig, orig.c.charge_id == c.c.reverses_charge_id))
        .where(c.c.ingested_at > since),
        select(m.c.encounter_id).where(m.c.ingested_at > since, m.c.encounter_id != ""),
        select(u.c.encounter_id).select_from(mu.join(u, u.c.usage_id == mu.c.usage_id))
        .where(tuple_(mu.c.channel, mu.c.control_id, mu.c.facility_id).in_(
            select(m.c.channel, m.c.control_id, m.c.facility_id)
            .where(m.c.ingested_at > since))),
        select(u.c.encounter_id).select_from(t.join(u, u.c.usage_id == t.c.usage_id))
        .where(t.c.ingested_at > since),
        select(ml.c.encounter_id).where(ml.c.hop == "inventory", in_rows(
            ml.c.target_id, select(t.c.document_id).where(t.c.ingested_at > since))),
        # An unreferenced issue may pair with any scan at its spot nearby in time, and a
        # new scan may take an unreferenced issue from a neighbour.
        select(u.c.encounter_id).select_from(unref.join(u, _spot_neighbours(
            unref.c.location_id, unref.c.item_id,
            func.coalesce(unref.c.moved_at, unref.c.posted_at))))
        .where(unref.c.document_id.in_(select(t.c.document_id).where(t.c.ingested_at > since)),
               func.coalesce(unref.c.usage_id, "") == ""),  # not via the usage_id index
        # ... and a scan of its item by GTIN (the item master's gtin), which the stitching
        # resolves to the same item
        select(u.c.encounter_id).select_from(
            unref.join(items, and_(items.c.item_id == unref.c.item_id, items.c.gtin != ""))
            .join(u, _spot_neighbours(unref.c.location_id, items.c.gtin,
                                      func.coalesce(unref.c.moved_at, unref.c.posted_at))))
        .where(unref.c.document_id.in_(select(t.c.document_id).where(t.c.ingested_at > since)),
               func.coalesce(unref.c.usage_id, "") == ""),
        select(u.c.encounter_id).select_from(new_u.join(u, _spot_neighbours(
            new_u.c.location_id, new_u.c.item_ref, new_u.c.used_at)))
        .where(new_u.c.ingested_at > since,  # only a scan no transaction names pairs
               ~select(t.c.document_id).where(t.c.usage_id == new_u.c.usage_id).exists(),
               ~select(t.c.document_id).where(t.c.usage_id == u.c.usage_id).exists()),
        select(encounters.c.encounter_id).where(encounters.c.ingested_at > since),
        select(u.c.encounter_id).where(u.c.item_ref.in_(_changed_items(master_since))),
        select(u.c.encounter_id).select_from(u.join(items, items.c.gtin == u.c.item_ref))
        .where(items.c.gtin != "", items.c.item_id.in_(_changed_items(master_since))),
    ]


def _due_pending(billing: Mapping[str, datetime], erp: Mapping[str, datetime],
                 sla: ChargeSla) -> list[Select]:
    """Encounters with a pending usage whose SLA deadline the feed has now passed (the
    partial indexes on pending rows keep this a range read per facility)."""
    f = metric_usage_facts
    first_deadline = timedelta(minutes=min(sla.implant_charge_minutes,
                                           sla.consumable_charge_minutes,
                                           sla.drug_charge_minutes))
    out = []
    for facility, horizon in billing.items():
        at = literal(horizon, UtcDateTime())
        out.append(select(f.c.encounter_id).where(
            text("metric_usage_facts.capture = 'pending'"), f.c.facility_id == facility,
            f.c.used_at < horizon - first_deadline, seconds_between(at, f.c.used_at) > f.c.sla_s))
    inventory_sla = timedelta(minutes=sla.inventory_issue_minutes)
    for facility, horizon in erp.items():
        out.append(select(f.c.encounter_id).where(
            text("metric_usage_facts.inventory = 'pending'"), f.c.facility_id == facility,
            f.c.used_at < horizon - inventory_sla))
    return out


def mark_dirty(conn: Connection, since: datetime, master_since: datetime,
               billing: Mapping[str, datetime], erp: Mapping[str, datetime],
               sla: ChargeSla) -> int:
    """Fill ``pass_dirty_encounters``; return how many encounters are dirty.

    ``master_since`` is the exact watermark: master data comes from one ERP sync at a
    time, and a change to a popular item dirties every encounter that used it, so the
    overlap that guards fact rows against late commits is not repeated there."""
    conn.execute(delete(pass_dirty_encounters))
    # One statement per source: each is planned on its own (a UNION of all of them is
    # planned worse), and duplicates fall away on the primary key. On SQLite a DISTINCT
    # would walk a whole encounter index instead of the ingested_at range; PostgreSQL
    # hashes the few thousand rows, and each duplicate it drops there is an index probe
    # of the conflict check saved (most rows of a source name an encounter already in).
    distinct = conn.dialect.name == "postgresql"
    for source in (*_encounter_sources(since, master_since), *_due_pending(billing, erp, sla)):
        rows = source.where(true())
        stmt = dialect_insert(conn, pass_dirty_encounters).from_select(
            ["encounter_id"], rows.distinct() if distinct else rows)
        conn.execute(stmt.on_conflict_do_nothing())
    return conn.execute(select(func.count()).select_from(pass_dirty_encounters)).scalar_one()


def feed_hours(conn: Connection, since: datetime, call_mark: int) -> set[datetime]:
    """Hours holding feed rows ingested since the watermark (messages, API calls,
    received requisitions)."""
    m, r, a = interface_messages, replenishment_documents, api_calls
    hours: set[datetime] = set()
    for q in (
        select(hour_floor(m.c.received_at)).where(m.c.ingested_at > since),
        select(hour_floor(r.c.received_at)).where(r.c.ingested_at > since,
                                                  r.c.received_at.is_not(None)),
        select(hour_floor(a.c.started_at)).where(a.c.call_id > call_mark),
    ):
        hours.update(conn.execute(q.distinct()).scalars())
    return hours
