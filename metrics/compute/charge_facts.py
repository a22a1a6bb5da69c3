"""Per-charge facts (link, kind, survival) and duplicate charge groups, in SQL.

A charge *survives* when it is a posted charge (not a credit, not voided) that no credit
reverses. A surviving charge is an *extra* (a duplicate) of the earliest surviving charge
(by posted time, then id) that shares one of these business keys with it, tried in order:

1. ``usage_id``: the same usage event (by the id the charge carries, or the link found);
2. ``control_id``: the same HL7 control id, CDM and carried usage id (one FT1 posted twice);
3. ``serial``: the same encounter, CDM and serial number, posted within
   ``ChargeSla.duplicate_window_days`` of the first (a serialised implant billed twice;
   the window stands in for "same service date", so 23:55 and 00:10 still match).

Two scans of one item are two usage events with two ids: not duplicates. A charge and its
credit are not duplicates, and a re-charge after a credit is the one surviving charge.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
)

from core.config import ChargeSla
from metrics.compute.dbtune import analyze
from metrics.compute.pass_tables import pass_live_charges
from metrics.compute.stitching import in_scope
from store.schema import charges, usage_events
from store.schema_metrics import metric_charge_facts, metric_duplicates, metric_work_items
from store.sqlfn import hour_floor, seconds_between


def build_charge_facts(conn: Connection, full: bool) -> None:
    """Rebuild ``metric_charge_facts`` for the dirty encounters (or all), linked by the
    usage id they carry; ``stitching.link_charges`` then links the rest."""
    cf, c, u = metric_charge_facts, charges, usage_events
    conn.execute(delete(cf) if full else delete(cf).where(in_scope(cf.c.encounter_id, False)))
    credit = charges.alias("credit")
    kind = case((c.c.reverses_charge_id != "", "credit"), (c.c.status == "voided", "voided"),
                else_="charge")
    source = c.outerjoin(u, u.c.usage_id == c.c.usage_id)
    if full:
        # The few reversed charge ids, joined once (not a lookup per charge).
        # "> ''" (every id is) rather than "!= ''": a range of the reversal index
        reversed_ids = select(credit.c.reverses_charge_id.label("charge_id")).where(
            credit.c.reverses_charge_id > "", credit.c.status != "voided").distinct().subquery()
        source = source.outerjoin(reversed_ids, reversed_ids.c.charge_id == c.c.charge_id)
        not_reversed = reversed_ids.c.charge_id.is_(None)
    else:  # a few charges: one probe each of the reversal index
        not_reversed = ~exists().where(credit.c.reverses_charge_id == c.c.charge_id,
                                       credit.c.status != "voided")
    query = select(
        c.c.charge_id, c.c.encounter_id, c.c.facility_id, hour_floor(c.c.posted_at),
        c.c.posted_at, func.coalesce(u.c.usage_id, ""),
        case((u.c.usage_id.is_not(None), "usage_id"), else_=""),
        kind, and_(kind == "charge", not_reversed),
        cast(c.c.quantity, Float), cast(c.c.amount, Float),
    ).select_from(source).where(in_scope(c.c.encounter_id, full))
    cols = ["charge_id", "encounter_id", "facility_id", "bucket", "posted_at", "usage_id",
            "link_method", "kind", "surviving", "quantity", "amount"]
    conn.execute(insert(cf).from_select(cols, query))


def _surviving(full: bool) -> Select:
    """Surviving charges in scope with their duplicate keys."""
    cf, c = metric_charge_facts, charges
    return select(
        cf.c.charge_id, cf.c.encounter_id, cf.c.usage_id, cf.c.posted_at, cf.c.facility_id,
        cf.c.bucket, cf.c.quantity, cf.c.amount,
        c.c.control_id, c.c.cdm_code, c.c.usage_id.label("carried_usage"), c.c.serial,
    ).select_from(cf.join(c, c.c.charge_id == cf.c.charge_id)).where(
        cf.c.surviving, in_scope(cf.c.encounter_id, full))


def _not_extra(charge_id: ColumnElement[str]) -> ColumnElement[bool]:
    return ~exists().where(metric_duplicates.c.charge_id == charge_id)


def _key_searches(conn: Connection, full: bool) -> list[tuple[Select, str]]:
    """Per key, in order: the charges not yet an extra that share the key with another
    charge, and the key's name.

    A full pass finds the candidate keys with a cheap GROUP BY over an index of the
    charges, so the window functions run over the few charges that share a key, not
    over every charge. An incremental pass first copies its surviving charges into
    ``pass_live_charges`` (a few thousand) and works on those: a group needs two
    surviving members, so no candidate is lost by counting only them."""
    if full:
        cf, c = metric_charge_facts, charges
        live = _surviving(True).where(_not_extra(cf.c.charge_id))
        keys = {"usage_id": cf.c.usage_id, "control_id": c.c.control_id, "serial": c.c.serial}
        shared = {name: select(col).where(col != "").group_by(col).having(func.count() > 1)
                  for name, col in keys.items()}
        return [(live.where(keys[name].in_(shared[name])), name) for name in keys]
    pl = pass_live_charges
    conn.execute(delete(pl))
    conn.execute(insert(pl).from_select([c.name for c in pl.c], _surviving(False)))
    # Without statistics PostgreSQL takes the few rows for a table of default size and
    # plans the three key statements as nested loops over it: 7 s instead of 50 ms.
    analyze(conn, pl)
    live = select(*pl.c).where(_not_extra(pl.c.charge_id))
    return [(live.where(pl.c[name].in_(
        select(pl.c[name]).where(pl.c[name] != "").group_by(pl.c[name])
        .having(func.count() > 1))), name) for name in ("usage_id", "control_id", "serial")]


def _insert_extras(conn: Connection, live: Select, keys: tuple[str, ...], dup_key: str,
                   window_s: float | None = None) -> None:
    sub = live.subquery("live")
    part = tuple(sub.c[k] for k in keys)
    order = (sub.c.posted_at, sub.c.charge_id)
    ranked = select(
        sub.c.charge_id, sub.c.encounter_id, sub.c.usage_id, sub.c.facility_id, sub.c.bucket,
        sub.c.posted_at, sub.c.quantity, sub.c.amount,
        func.row_number().over(partition_by=part, order_by=order).label("nth"),
        func.first_value(sub.c.charge_id).over(partition_by=part, order_by=order)
        .label("first_id"),
        func.first_value(sub.c.posted_at).over(partition_by=part, order_by=order)
        .label("first_at"),
    ).subquery("ranked")
    cond = [ranked.c.nth > 1]
    if window_s is not None:
        cond.append(seconds_between(ranked.c.posted_at, ranked.c.first_at) <= window_s)
    # The extra's usage gives the location and item class its usage fact will have (the
    # facts stage resolves the item the same way, from the same item dimension). A lookup
    # per extra: a join would let PostgreSQL, which expects far more extras than there
    # are, hash every usage event.
    u, d = usage_events, metric_work_items
    location = select(u.c.location_id).where(u.c.usage_id == ranked.c.usage_id)
    item_class = select(d.c.item_class).select_from(u.join(d, d.c.ref == u.c.item_ref)).where(
        u.c.usage_id == ranked.c.usage_id)
    conn.execute(insert(metric_duplicates).from_select(
        ["charge_id", "dup_of", "dup_key", "encounter_id", "usage_id", "facility_id",
         "location_id", "item_class", "bucket", "posted_at", "quantity", "amount"],
        select(ranked.c.charge_id, ranked.c.first_id, literal(dup_key), ranked.c.encounter_id,
               ranked.c.usage_id, ranked.c.facility_id,
               func.coalesce(location.scalar_subquery(), ""),
               func.coalesce(item_class.scalar_subquery(), ""), ranked.c.bucket,
               ranked.c.posted_at, ranked.c.quantity, ranked.c.amount)
        .where(*cond)))


def find_duplicates(conn: Connection, sla: ChargeSla, full: bool) -> None:
    """Rebuild ``metric_duplicates`` for the dirty encounters (or all), key by key: a
    charge already an extra by one key is not grouped again by the next."""
    md = metric_duplicates
    conn.execute(delete(md) if full else delete(md).where(in_scope(md.c.encounter_id, False)))
    partitions = {"usage_id": ("usage_id",),
                  "control_id": ("control_id", "cdm_code", "carried_usage"),
                  "serial": ("encounter_id", "cdm_code", "serial")}
    for live, key in _key_searches(conn, full):
        _insert_extras(conn, live, partitions[key], key, window_s=(
            sla.duplicate_window_days * 86400.0 if key == "serial" else None))
