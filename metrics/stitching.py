"""Transaction stitching: the links that the shared usage id does not give, in SQL.

A charge or an inventory transaction that carries the id of a known usage event belongs
to it (``usage_id``; implied by the key, recorded as the link method in the facts). The
rest are matched here, in this order, and stored in ``metric_links`` with their method:

- charge, by HL7 control id (``control_id``): a usage of the message the charge was
  posted from whose item crosswalks to the charge's CDM, paired in time order;
- charge, fallback (``fallback``): same encounter, same CDM (through the crosswalk) and
  service date = usage date, paired in time order (first scan with first charge);
- credit (``reversal``): belongs to the usage of the charge it reverses;
- inventory issue by serial (``serial``): same location, item and serial number;
- inventory issue, fallback (``fallback``): same location and item, posted within
  ``FALLBACK_ISSUE_DAYS`` after the scan, and each is the other's nearest in time.

Only usages not charged (issued) by key take part, so a fallback never steals a usage
another charge (issue) names. Work is limited to the dirty encounters unless ``full``.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    and_,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    union_all,
)

from metrics.sqlfn import seconds_between, to_date
from store.schema import charges, crosswalks, inventory_transactions, items, message_usages
from store.schema import usage_events as usages
from store.schema_metrics import metric_dirty_encounters, metric_links
from store.upsert import dialect_insert

FALLBACK_ISSUE_DAYS = 2  # an unreferenced ERP issue pairs with a scan at most this late


def in_scope(column: ColumnElement[str], full: bool) -> ColumnElement[bool]:
    """``column`` is one of the dirty encounters (always true on a full recompute)."""
    if full:
        return true()
    return column.in_(select(metric_dirty_encounters.c.encounter_id))


def item_ref_map() -> Subquery:
    """Scanned reference -> item id: the item id itself, else a GTIN naming one item."""
    by_id = select(items.c.item_id.label("ref"), items.c.item_id)
    by_gtin = select(items.c.gtin.label("ref"), items.c.item_id).where(
        items.c.gtin != "", items.c.gtin.not_in(select(items.c.item_id)))
    refs = union_all(by_id, by_gtin).subquery("refs")
    return select(refs.c.ref, func.min(refs.c.item_id).label("item_id")).group_by(
        refs.c.ref).subquery("ref_map")


def _insert_links(conn: Connection, query: Select) -> None:
    cols = ["usage_id", "hop", "target_id", "method", "encounter_id", "at"]
    # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
    stmt = dialect_insert(conn, metric_links).from_select(cols, query.where(true()))
    conn.execute(stmt.on_conflict_do_nothing())


def _charged_by_key(usage_id: ColumnElement[str]) -> ColumnElement[bool]:
    c2 = charges.alias("c_key")
    return exists().where(c2.c.usage_id == usage_id, c2.c.reverses_charge_id == "")


def _linked(hop: str, usage_id: ColumnElement[str]) -> ColumnElement[bool]:
    return exists().where(metric_links.c.hop == hop, metric_links.c.usage_id == usage_id)


def _unlinked_charges(full: bool) -> Select:
    """Charges (not credits, not voided) that name no known usage and have no link yet."""
    c = charges
    return select(c.c.charge_id, c.c.encounter_id, c.c.cdm_code, c.c.control_id,
                  c.c.service_date, c.c.posted_at).where(
        in_scope(c.c.encounter_id, full), c.c.reverses_charge_id == "",
        c.c.status != "voided",
        ~exists().where(usages.c.usage_id == c.c.usage_id),
        ~exists().where(metric_links.c.hop == "charge",
                        metric_links.c.target_id == c.c.charge_id))


def _free_usages_for_charges(encounters: Select) -> Select:
    """Usages of ``encounters`` with a CDM through the crosswalk, not charged by key and
    not linked yet."""
    refs = item_ref_map()
    return select(usages.c.usage_id, usages.c.encounter_id, usages.c.used_at,
                  crosswalks.c.cdm_code).select_from(
        usages.join(refs, refs.c.ref == usages.c.item_ref)
        .join(crosswalks, crosswalks.c.item_id == refs.c.item_id)
    ).where(usages.c.encounter_id.in_(encounters), ~_charged_by_key(usages.c.usage_id),
            ~_linked("charge", usages.c.usage_id))


def _link_charges_by_control_id(conn: Connection, full: bool) -> None:
    free_charges = _unlinked_charges(full).where(charges.c.control_id != "").subquery("fc")
    free = _free_usages_for_charges(select(free_charges.c.encounter_id)).subquery("fu")
    mu = message_usages
    fu = select(
        free.c.usage_id, free.c.encounter_id, mu.c.control_id, free.c.cdm_code,
        func.row_number().over(partition_by=(mu.c.control_id, free.c.cdm_code),
                               order_by=(free.c.used_at, free.c.usage_id)).label("rank"),
    ).select_from(free.join(mu, mu.c.usage_id == free.c.usage_id)).where(
        mu.c.control_id.in_(select(free_charges.c.control_id))).subquery("fu_ranked")
    fc = select(
        free_charges, func.row_number().over(
            partition_by=(free_charges.c.control_id, free_charges.c.cdm_code),
            order_by=(free_charges.c.posted_at, free_charges.c.charge_id)).label("rank"),
    ).subquery("fc_ranked")
    _insert_links(conn, select(
        fu.c.usage_id, literal("charge"), fc.c.charge_id, literal("control_id"),
        fc.c.encounter_id, fc.c.posted_at,
    ).select_from(fc.join(fu, and_(fu.c.control_id == fc.c.control_id,
                                   fu.c.cdm_code == fc.c.cdm_code, fu.c.rank == fc.c.rank))))


def _link_charges_by_fallback(conn: Connection, full: bool) -> None:
    free_charges = _unlinked_charges(full).subquery("fc")
    free = _free_usages_for_charges(select(free_charges.c.encounter_id)).subquery("fu")
    day = to_date(free.c.used_at)
    fu = select(
        free.c.usage_id, free.c.encounter_id, free.c.cdm_code, day.label("day"),
        func.row_number().over(partition_by=(free.c.encounter_id, free.c.cdm_code, day),
                               order_by=(free.c.used_at, free.c.usage_id)).label("rank"),
    ).subquery("fu_ranked")
    fc = select(
        free_charges, func.row_number().over(
            partition_by=(free_charges.c.encounter_id, free_charges.c.cdm_code,
                          free_charges.c.service_date),
            order_by=(free_charges.c.posted_at, free_charges.c.charge_id)).label("rank"),
    ).subquery("fc_ranked")
    _insert_links(conn, select(
        fu.c.usage_id, literal("charge"), fc.c.charge_id, literal("fallback"),
        fu.c.encounter_id, fc.c.posted_at,
    ).select_from(fc.join(fu, and_(
        fu.c.encounter_id == fc.c.encounter_id, fu.c.cdm_code == fc.c.cdm_code,
        fu.c.day == fc.c.service_date, fu.c.rank == fc.c.rank))))


def _link_credits(conn: Connection, full: bool) -> None:
    """A credit that names no known usage belongs to the usage of the charge it reverses."""
    c, orig, ml = charges, charges.alias("orig"), metric_links
    owner = func.coalesce(usages.c.usage_id, ml.c.usage_id)
    _insert_links(conn, select(
        owner, literal("charge"), c.c.charge_id, literal("reversal"), c.c.encounter_id,
        c.c.posted_at,
    ).select_from(
        c.join(orig, orig.c.charge_id == c.c.reverses_charge_id)
        .outerjoin(usages, usages.c.usage_id == orig.c.usage_id)
        .outerjoin(ml, and_(ml.c.hop == "charge", ml.c.target_id == orig.c.charge_id))
    ).where(in_scope(c.c.encounter_id, full), c.c.reverses_charge_id != "",
            ~exists().where(usages.alias("own").c.usage_id == c.c.usage_id),
            owner.is_not(None)))


def _issue_spots(full: bool) -> Select:
    """(location, item) of the scans in scope: where an unreferenced issue may belong."""
    refs = item_ref_map()
    return select(usages.c.location_id, refs.c.item_id).select_from(
        usages.join(refs, refs.c.ref == usages.c.item_ref)).where(
        in_scope(usages.c.encounter_id, full)).distinct()


def _issue_candidates(full: bool) -> tuple[Subquery, Subquery]:
    """Unreferenced, unlinked ISSUEs at the spots in scope, and the scans with no issue."""
    t, refs = inventory_transactions, item_ref_map()
    spots = _issue_spots(full)
    issues = select(t.c.document_id, t.c.location_id, t.c.item_id, t.c.serial,
                    t.c.posted_at).where(
        t.c.txn_type == "ISSUE", ~exists().where(usages.c.usage_id == t.c.usage_id),
        ~exists().where(metric_links.c.hop == "inventory",
                        metric_links.c.target_id == t.c.document_id),
        tuple_(t.c.location_id, t.c.item_id).in_(spots)).subquery("fi")
    t2 = inventory_transactions.alias("t_key")
    free = select(usages.c.usage_id, usages.c.encounter_id, usages.c.location_id,
                  refs.c.item_id, usages.c.serial, usages.c.used_at).select_from(
        usages.join(refs, refs.c.ref == usages.c.item_ref)).where(
        tuple_(usages.c.location_id, refs.c.item_id).in_(
            select(issues.c.location_id, issues.c.item_id)),
        ~exists().where(t2.c.usage_id == usages.c.usage_id),
        ~_linked("inventory", usages.c.usage_id)).subquery("fu")
    return issues, free


def _link_issues_by_serial(conn: Connection, full: bool) -> None:
    fi, fu = _issue_candidates(full)
    _insert_links(conn, select(
        fu.c.usage_id, literal("inventory"), fi.c.document_id, literal("serial"),
        fu.c.encounter_id, fi.c.posted_at,
    ).select_from(fi.join(fu, and_(fu.c.location_id == fi.c.location_id,
                                   fu.c.item_id == fi.c.item_id, fu.c.serial == fi.c.serial)))
        .where(fi.c.serial != "", in_scope(fu.c.encounter_id, full)))


def _link_issues_by_fallback(conn: Connection, full: bool) -> None:
    fi, fu = _issue_candidates(full)
    delay = seconds_between(fi.c.posted_at, fu.c.used_at)
    pairs = select(
        fu.c.usage_id, fu.c.encounter_id, fi.c.document_id, fi.c.posted_at,
        func.row_number().over(partition_by=fi.c.document_id,
                               order_by=(fu.c.used_at.desc(), fu.c.usage_id.desc()))
        .label("nearest_scan"),
        func.row_number().over(partition_by=fu.c.usage_id,
                               order_by=(fi.c.posted_at, fi.c.document_id))
        .label("nearest_issue"),
    ).select_from(fi.join(fu, and_(fu.c.location_id == fi.c.location_id,
                                   fu.c.item_id == fi.c.item_id)))
    pairs = pairs.where(delay >= 0, delay <= FALLBACK_ISSUE_DAYS * 86400.0).subquery("pairs")
    _insert_links(conn, select(
        pairs.c.usage_id, literal("inventory"), pairs.c.document_id, literal("fallback"),
        pairs.c.encounter_id, pairs.c.posted_at,
    ).where(pairs.c.nearest_scan == 1, pairs.c.nearest_issue == 1,
            in_scope(pairs.c.encounter_id, full)))


def stitch(conn: Connection, full: bool) -> None:
    """Rebuild the derived links of the dirty encounters (or all links when ``full``)."""
    if full:
        conn.execute(delete(metric_links))
    else:
        conn.execute(delete(metric_links).where(in_scope(metric_links.c.encounter_id, False)))
    _link_charges_by_control_id(conn, full)
    _link_charges_by_fallback(conn, full)
    _link_credits(conn, full)
    _link_issues_by_serial(conn, full)
    _link_issues_by_fallback(conn, full)
