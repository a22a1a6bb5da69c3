"""Transaction stitching: the links that the shared usage id does not give, in SQL.

A charge or an inventory transaction that carries the id of a known usage event belongs
to it (``usage_id``; implied by the key and recorded as the link method in the facts).
The rest are matched here, in this order, and stored in ``metric_links`` with their method:

- charge, by HL7 control id (``control_id``): a usage of the message the charge was
  posted from whose item crosswalks to the charge's CDM, paired in time order;
- charge, fallback (``fallback``): same encounter, same CDM (through the crosswalk) and
  service date = usage date, paired in time order (first scan with first charge);
- credit (``reversal``): belongs to the usage of the charge it reverses;
- inventory issue by serial (``serial``): same location, item and serial number;
- inventory issue, fallback (``fallback``): same location and item, posted within
  ``FALLBACK_ISSUE_DAYS`` after the scan, and each is the other's nearest in time.

Only usages not charged (issued) by key take part, so a fallback never steals a usage
another charge (issue) names. The unlinked charges and issues and their candidate usages
are first copied to small work tables, so every pairing joins a few indexed rows, never
the whole charge or usage table. Work is limited to the dirty encounters unless ``full``.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Numeric,
    Select,
    Subquery,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)

from metrics.compute.dbtune import analyze, analyze_scratch
from metrics.compute.pass_tables import (
    pass_dirty_encounters,
    pass_work_charges,
    pass_work_issues,
    pass_work_usages,
)
from store.schema import charges, inventory_transactions, item_uoms, items, message_usages
from store.schema import usage_events as usages
from store.schema_metrics import metric_charge_facts, metric_links, metric_work_items
from store.sqlfn import add_seconds, in_rows, seconds_between, to_date
from store.upsert import dialect_insert

FALLBACK_ISSUE_DAYS = 2  # an unreferenced ERP issue pairs with a scan at most this late
WINDOW_S = FALLBACK_ISSUE_DAYS * 86400.0
_LINK_COLS = ["usage_id", "hop", "target_id", "method", "encounter_id", "at"]
_WORK_USAGE_COLS = ["hop", "usage_id", "encounter_id", "location_id", "item_id", "cdm_code",
                    "serial", "lot", "quantity", "used_at", "used_on", "claimed"]
# Rounds of mutual-nearest issue pairing, at most (each pairs what the last one left: a
# busy spot, one surgery scanning an item dozens of times, takes several).
MAX_ISSUE_ROUNDS = 64
# ERP transactions without a usage reference that are paired to scans (a RECEIPT or a
# cycle count's ADJUST belongs to no scan)
_PAIRED_TYPES = ("ISSUE", "RETURN")


def in_scope(column: ColumnElement[str], full: bool, *, indexed: bool = True
             ) -> ColumnElement[bool]:
    """``column`` is one of the dirty encounters (always true on a full recompute); an
    ``indexed`` column is reached by index probes (``sqlfn.in_rows``)."""
    if full:
        return true()
    dirty = select(pass_dirty_encounters.c.encounter_id)
    return in_rows(column, dirty) if indexed else column.in_(dirty)


def _insert_links(conn: Connection, query: Select) -> int:
    """Insert the links ``query`` yields (a link already made stays); how many were new."""
    # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
    stmt = dialect_insert(conn, metric_links).from_select(_LINK_COLS, query.where(true()))
    # preserve_rowcount: SQLAlchemy keeps an INSERT's count only when asked, and without
    # it psycopg's -1 kept every pairing loop on PostgreSQL going to its last round
    done = conn.execute(stmt.on_conflict_do_nothing(),
                        execution_options={"preserve_rowcount": True})
    return max(done.rowcount, 0)


def _not_linked(hop: str, *, usage_id: ColumnElement[str] | None = None,
                target_id: ColumnElement[str] | None = None) -> ColumnElement[bool]:
    ml = metric_links
    key = ml.c.usage_id == usage_id if usage_id is not None else ml.c.target_id == target_id
    return ~exists().where(ml.c.hop == hop, key)


# --- charges ------------------------------------------------------------------------------

def _base_quantity(quantity: ColumnElement, uom: ColumnElement[str], item_id: ColumnElement[str],
                   base_uom: ColumnElement[str]) -> ColumnElement[float]:
    """``quantity`` in ``uom`` as base units of the item (NULL when the unit does not
    convert)."""
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == item_id, item_uoms.c.uom == uom).scalar_subquery()
    factor = case((uom == base_uom, 1.0), else_=conversion)
    return func.abs(cast(quantity, Float)) * factor


def _fill_work_for_charges(conn: Connection, full: bool) -> None:
    """Charges the usage id did not link (from the charge facts), and every usage of their
    encounters, marked ``claimed`` when a charge names it: a billing system that carries
    the usage reference on one copy of a duplicate and not on the other still billed that
    usage twice."""
    cf, c, wc, wu = metric_charge_facts, charges, pass_work_charges, pass_work_usages
    conn.execute(delete(wc))
    conn.execute(delete(wu).where(wu.c.hop == "charge"))
    conn.execute(insert(wc).from_select(
        ["charge_id", "encounter_id", "cdm_code", "control_id", "service_date", "service_at",
         "posted_at", "quantity"],
        select(cf.c.charge_id, cf.c.encounter_id, c.c.cdm_code, c.c.control_id,
               c.c.service_date, c.c.service_at, c.c.posted_at,
               func.abs(cast(c.c.quantity, Float)))
        .select_from(cf.join(c, c.c.charge_id == cf.c.charge_id))
        .where(cf.c.usage_id == "", cf.c.kind == "charge", in_scope(cf.c.encounter_id, full))))
    d, cf2 = metric_work_items, metric_charge_facts.alias("by_key")
    claimed = exists().where(cf2.c.usage_id == usages.c.usage_id, cf2.c.kind == "charge")
    conn.execute(insert(wu).from_select(_WORK_USAGE_COLS, select(
        literal("charge"), usages.c.usage_id, usages.c.encounter_id, usages.c.location_id,
        d.c.item_id, d.c.cdm_code, usages.c.serial, usages.c.lot,
        _base_quantity(usages.c.quantity, usages.c.uom, d.c.item_id, d.c.uom),
        usages.c.used_at, _local_day(usages), case((claimed, 1), else_=0),
    ).select_from(usages.join(d, and_(d.c.ref == usages.c.item_ref, d.c.cdm_code.is_not(None))))
        .where(usages.c.encounter_id.in_(select(wc.c.encounter_id).distinct()))))


def _local_day(u: Table) -> ColumnElement:
    """The scan's local calendar date (the day its charge's service date names); the UTC
    date for rows stored before the store kept it."""
    return func.coalesce(u.c.used_on, to_date(u.c.used_at))


def _pair_in_order(conn: Connection, scans: Subquery, charges_: Subquery,
                   part: tuple[str, ...], method: str, hop: str = "charge") -> int:
    """Link the n-th scan to the n-th charge of each partition, both in time order; the
    number of links made.

    Both sides are ranked in one UNION ALL and paired by GROUP BY (partition, rank): one
    sort, where a join of two ranked subqueries would scan one for every row of the other.
    ``scans`` has (usage_id, at, *part); ``charges_`` (charge_id, encounter_id, at, *part):
    a charge, or for ``hop="inventory"`` an issue under the same column names. A side with
    an ``order_at`` column is ranked by it instead of ``at``."""
    def side(sub: Subquery, name: str, id_col: str, enc: ColumnElement[str]) -> Select:
        keys = tuple(sub.c[k] for k in part)
        order = sub.c.order_at if "order_at" in sub.c else sub.c.at
        return select(literal(name).label("side"), sub.c[id_col].label("id"),
                      enc.label("encounter_id"), sub.c.at, *keys,
                      func.row_number().over(partition_by=keys, order_by=(order, sub.c[id_col]))
                      .label("rank"))
    scan_enc = scans.c.encounter_id if "encounter_id" in scans.c else literal("")
    both = side(scans, "u", "usage_id", scan_enc).union_all(
        side(charges_, "c", "charge_id", charges_.c.encounter_id)).subquery("both_sides")
    is_u, is_c = both.c.side == "u", both.c.side == "c"
    # the charge's encounter; an ERP issue has none, so its scan's
    encounter = func.coalesce(func.nullif(func.max(case((is_c, both.c.encounter_id))), ""),
                              func.max(case((is_u, both.c.encounter_id))))
    pairs = select(
        func.max(case((is_u, both.c.id))).label("usage_id"),
        func.max(case((is_c, both.c.id))).label("charge_id"),
        encounter.label("encounter_id"),
        func.max(case((is_c, both.c.at))).label("at"),
    ).group_by(*(both.c[k] for k in part), both.c.rank).having(func.count() == 2
                                                               ).subquery("pairs")
    return _insert_links(conn, select(pairs.c.usage_id, literal(hop), pairs.c.charge_id,
                                      literal(method), pairs.c.encounter_id, pairs.c.at))


def _pair_charges_by_control_id(conn: Connection) -> None:
    wc, wu, mu = pass_work_charges, pass_work_usages, message_usages
    scans = select(wu.c.usage_id, wu.c.used_at.label("at"), mu.c.control_id,
                   wu.c.cdm_code).select_from(wu.join(mu, mu.c.usage_id == wu.c.usage_id)).where(
        wu.c.hop == "charge", wu.c.claimed == 0,
        mu.c.control_id.in_(select(wc.c.control_id))).subquery("fu")
    charges_ = select(wc.c.charge_id, wc.c.encounter_id, wc.c.posted_at.label("at"),
                      wc.c.control_id, wc.c.cdm_code).where(wc.c.control_id != "").subquery("fc")
    _pair_in_order(conn, scans, charges_, ("control_id", "cdm_code"), "control_id")


def _quantity_key(quantity: ColumnElement) -> ColumnElement:
    """A quantity rounded to a millionth, so float noise does not split a key (NUMERIC:
    PostgreSQL rounds no double precision to places)."""
    return func.round(cast(quantity, Numeric(20, 6)), 6)


def _fallback_sides(*, free_only: bool) -> tuple[Subquery, Subquery]:
    wc, wu = pass_work_charges, pass_work_usages
    scan_filter = [wu.c.hop == "charge"]
    if free_only:
        scan_filter += [wu.c.claimed == 0, _not_linked("charge", usage_id=wu.c.usage_id)]
    scans = select(wu.c.usage_id, wu.c.used_at.label("at"), wu.c.encounter_id.label("enc"),
                   wu.c.cdm_code, wu.c.used_on.label("day"),
                   _quantity_key(func.coalesce(wu.c.quantity, -1.0)).label("qty")
                   ).where(*scan_filter).subquery("fu")
    # Scans in time order pair with charges in service-time order where billing sends the
    # service instant (the scan's time), else in posting order.
    charges_ = select(wc.c.charge_id, wc.c.encounter_id, wc.c.posted_at.label("at"),
                      func.coalesce(wc.c.service_at, wc.c.posted_at).label("order_at"),
                      wc.c.encounter_id.label("enc"), wc.c.cdm_code,
                      wc.c.service_date.label("day"),
                      _quantity_key(wc.c.quantity).label("qty")).where(
        _not_linked("charge", target_id=wc.c.charge_id)).subquery("fc")
    return scans, charges_


def _pair_charges_by_fallback(conn: Connection) -> None:
    """Same encounter, CDM and local service date. A charge that carries its service
    instant (the scan's time) pairs with the free scan nearest in time, mutually, equal
    quantities first; one without pairs in time order with the free scans left, equal
    quantities first (two scans of one item apart in quantity keep their own charges).
    Then each charge still unpaired goes to the nearest scan of its key, free or not, so
    an unlinked copy of a linked charge is seen as the duplicate it is."""
    for _round in range(MAX_ISSUE_ROUNDS):
        if not _pair_charges_nearest(conn, free_only=True):
            break
    for part in (("enc", "cdm_code", "day", "qty"), ("enc", "cdm_code", "day")):
        scans, charges_ = _fallback_sides(free_only=True)
        _pair_in_order(conn, scans, charges_, part, "fallback")
    _pair_charges_nearest(conn, free_only=False)


def _pair_charges_nearest(conn: Connection, *, free_only: bool) -> int:
    """One round of nearest pairing by time between unlinked charges and the scans of
    their key (encounter, CDM, local date): ``free_only``, scans no charge names, each
    pair the other's nearest (service instants only); else every charge still unlinked
    to its nearest scan (by service instant, else posting time)."""
    wc, wu = pass_work_charges, pass_work_usages
    at = func.coalesce(wc.c.service_at, wc.c.posted_at)
    distance = func.abs(seconds_between(at, wu.c.used_at))
    agree = case((func.abs(func.coalesce(wu.c.quantity, -1.0) - wc.c.quantity) < 1e-6, 1),
                 else_=0)
    where = [wu.c.hop == "charge", _not_linked("charge", target_id=wc.c.charge_id)]
    if free_only:
        where += [wc.c.service_at.is_not(None), wu.c.claimed == 0,
                  _not_linked("charge", usage_id=wu.c.usage_id)]
    pairs = select(
        wu.c.usage_id, wc.c.charge_id, wc.c.encounter_id, wc.c.posted_at,
        func.row_number().over(partition_by=wc.c.charge_id,
                               order_by=(agree.desc(), distance, wu.c.usage_id))
        .label("nearest_scan"),
        func.row_number().over(partition_by=wu.c.usage_id,
                               order_by=(agree.desc(), distance, wc.c.charge_id))
        .label("nearest_charge"),
    ).select_from(wc.join(wu, and_(wu.c.encounter_id == wc.c.encounter_id,
                                   wu.c.cdm_code == wc.c.cdm_code,
                                   wu.c.used_on == wc.c.service_date))
                  ).where(*where).subquery("nearest")
    mutual = [pairs.c.nearest_scan == 1]
    if free_only:
        mutual.append(pairs.c.nearest_charge == 1)
    return _insert_links(conn, select(
        pairs.c.usage_id, literal("charge"), pairs.c.charge_id, literal("fallback"),
        pairs.c.encounter_id, pairs.c.posted_at).where(*mutual))


def _link_credits(conn: Connection, full: bool) -> None:
    """A credit that names no known usage belongs to the usage of the charge it reverses."""
    cf, c, ml = metric_charge_facts, charges, metric_links
    orig = metric_charge_facts.alias("orig")
    owner = func.coalesce(func.nullif(orig.c.usage_id, ""), ml.c.usage_id)
    _insert_links(conn, select(
        owner, literal("charge"), cf.c.charge_id, literal("reversal"), cf.c.encounter_id,
        cf.c.posted_at,
    ).select_from(
        cf.join(c, c.c.charge_id == cf.c.charge_id)
        .join(orig, orig.c.charge_id == c.c.reverses_charge_id)
        .outerjoin(ml, and_(ml.c.hop == "charge", ml.c.target_id == orig.c.charge_id))
    ).where(cf.c.kind == "credit", cf.c.usage_id == "", in_scope(cf.c.encounter_id, full),
            owner.is_not(None)))


def _apply_charge_links(conn: Connection, full: bool) -> None:
    cf, ml = metric_charge_facts, metric_links
    conn.execute(update(cf).where(
        cf.c.charge_id == ml.c.target_id, ml.c.hop == "charge",
        in_scope(ml.c.encounter_id, full)).values(usage_id=ml.c.usage_id,
                                                  link_method=ml.c.method))


def link_charges(conn: Connection, full: bool) -> None:
    """Link the charges of the charge facts that name no known usage; record the link on
    their facts. Run after ``build_charge_facts``."""
    ml = metric_links
    conn.execute(delete(ml).where(ml.c.hop == "charge", in_scope(ml.c.encounter_id, full)))
    _fill_work_for_charges(conn, full)
    if full:
        # PostgreSQL planned the fresh work tables as a few pages: the pairing's window
        # sorts ran as nested loops over the whole work sets, 55 s and 69 s on a 1M-usage
        # store's first full pass
        analyze(conn, pass_work_charges, pass_work_usages)
    _pair_charges_by_control_id(conn)
    _pair_charges_by_fallback(conn)
    _link_credits(conn, full)
    _apply_charge_links(conn, full)


# --- inventory ----------------------------------------------------------------------------

def _moved(t: Table) -> ColumnElement:
    """When the stock moved: the ERP's transaction time where it records one apart from
    its (often hours later) posting time."""
    return func.coalesce(t.c.moved_at, t.c.posted_at)


def _moved_halves(t: Table) -> tuple[tuple[ColumnElement, ColumnElement[bool]], ...]:
    """``_moved`` as two (column, rows it holds for) halves, each a column an index ranges
    over (``ix_metric_inventory_moved``, ``ix_metric_inventory_spot``): no index ranges
    over the coalesce, so a window on it reads the spot's whole history."""
    return ((t.c.moved_at, t.c.moved_at.is_not(None)),
            (t.c.posted_at, t.c.moved_at.is_(None)))


def _fill_work_for_issues(conn: Connection, full: bool) -> None:
    """Unreferenced ISSUEs (all, or those near the dirty encounters' scans that no
    transaction names) and the free scans at their location and item before them."""
    t, wi, wu = inventory_transactions, pass_work_issues, pass_work_usages
    conn.execute(delete(wi))
    conn.execute(delete(wu).where(wu.c.hop == "inventory"))
    unref = and_(t.c.usage_id == "", t.c.txn_type.in_(_PAIRED_TYPES))
    t_key = inventory_transactions.alias("t_key")
    # A scan no ISSUE names (a RETURN naming it does not issue it: its ISSUE may be the
    # one that lost the link)
    free = ~exists().where(t_key.c.usage_id == usages.c.usage_id, t_key.c.txn_type == "ISSUE")
    cols = ["document_id", "txn_type", "location_id", "item_id", "serial", "lot", "quantity",
            "posted_at", "moved_at"]
    base = items.alias("issue_item")
    issue_cols = (t.c.document_id, t.c.txn_type, t.c.location_id, t.c.item_id, t.c.serial, t.c.lot,
                  func.coalesce(_base_quantity(t.c.quantity, t.c.uom, t.c.item_id,
                                               base.c.uom), -1.0),
                  t.c.posted_at, _moved(t))
    with_item = t.outerjoin(base, base.c.item_id == t.c.item_id)
    if full:
        conn.execute(insert(wi).from_select(cols, select(*issue_cols).select_from(with_item)
                                            .where(unref)))
    else:
        # The dirty encounters' free scans first (few), then the unreferenced issues near
        # them: each issue probes that small set, instead of each scan the issue index.
        # a scan by GTIN (a UDI's (01)) probes the issues of the item that GTIN names
        by_gtin = items.alias("scan_gtin")
        conn.execute(insert(wu).from_select(_WORK_USAGE_COLS, select(
            literal("inventory"), usages.c.usage_id, usages.c.encounter_id,
            usages.c.location_id, func.coalesce(by_gtin.c.item_id, usages.c.item_ref),
            literal(""), usages.c.serial, usages.c.lot, literal(None), usages.c.used_at,
            literal(None), literal(0),
        ).select_from(usages.outerjoin(by_gtin, and_(by_gtin.c.gtin == usages.c.item_ref,
                                                     by_gtin.c.gtin != "")))
            .where(in_scope(usages.c.encounter_id, False), free)))
        # coalesce(): not through the usage_id index, so the scans drive the spot index
        unreferenced = and_(func.coalesce(t.c.usage_id, "") == "",
                            t.c.txn_type.in_(_PAIRED_TYPES))
        # one probe per half of when the stock moved: each a two-day index range
        for when, which in _moved_halves(t):
            near = and_(t.c.location_id == wu.c.location_id, t.c.item_id == wu.c.item_id,
                        when >= wu.c.used_at, when <= add_seconds(wu.c.used_at, WINDOW_S),
                        which)
            rows = select(*issue_cols).select_from(wu.join(with_item, near)).where(
                wu.c.hop == "inventory", unreferenced)
            conn.execute(dialect_insert(conn, wi).from_select(cols, rows.where(true()))
                         .on_conflict_do_nothing())
        conn.execute(delete(wu).where(wu.c.hop == "inventory"))
    g = items.alias("by_gtin")
    it = items.alias("scan_item")
    for ref in (wi.c.item_id, g.c.gtin):
        spot = and_(usages.c.location_id == wi.c.location_id, usages.c.item_ref == ref,
                    usages.c.used_at <= wi.c.moved_at,
                    usages.c.used_at >= add_seconds(wi.c.moved_at, -WINDOW_S))
        source = wi.join(usages, spot) if ref is wi.c.item_id else wi.join(
            g, and_(g.c.item_id == wi.c.item_id, g.c.gtin != "")).join(usages, spot)
        source = source.outerjoin(it, it.c.item_id == wi.c.item_id)
        stmt = dialect_insert(conn, wu).from_select(_WORK_USAGE_COLS, select(
            literal("inventory"), usages.c.usage_id, usages.c.encounter_id,
            usages.c.location_id, wi.c.item_id, literal(""), usages.c.serial, usages.c.lot,
            _base_quantity(usages.c.quantity, usages.c.uom, wi.c.item_id, it.c.uom)
            + _returned(usages.c.usage_id, it),
            usages.c.used_at, literal(None), literal(0),
        ).select_from(source).where(free, wi.c.txn_type == "ISSUE"))
        conn.execute(stmt.on_conflict_do_nothing())


def _returned(usage_id: ColumnElement[str], item: Table) -> ColumnElement[float]:
    """Base units the RETURNs naming a usage gave back: an ISSUE of the scanned quantity
    plus those is the usage's over-issue, not another scan's issue."""
    r = inventory_transactions.alias("named_return")
    return func.coalesce(select(func.sum(_base_quantity(r.c.quantity, r.c.uom, r.c.item_id,
                                                        item.c.uom)))
                         .where(r.c.usage_id == usage_id, r.c.txn_type == "RETURN")
                         .scalar_subquery(), 0.0)


def _issues_before_returns() -> Subquery:
    """(return, issue) of each work RETURN and each ISSUE at its spot whose stock moved in
    the window before it: two index ranges per RETURN, by ``moved_at`` where the ERP sends
    one (``ix_metric_inventory_moved``) and by ``posted_at`` where it does not
    (``ix_metric_inventory_spot``). A join on the spot alone, with the window as a filter
    on ``coalesce(moved_at, posted_at)``, read the spot's whole history per RETURN: a cost
    that grew with the square of the store's density (482 s of a 10M full pass went to
    linking issues)."""
    wi, i = pass_work_issues, inventory_transactions.alias("issue")
    # a second of slack each way: the exact window is the delay in _pair_returns
    lo, hi = add_seconds(wi.c.moved_at, -WINDOW_S - 1.0), add_seconds(wi.c.moved_at, 1.0)
    spot = [i.c.location_id == wi.c.location_id, i.c.item_id == wi.c.item_id,
            i.c.txn_type == "ISSUE"]
    cols = (wi.c.document_id.label("return_id"), i.c.document_id.label("issue_id"))
    return union_all(*(
        select(*cols).select_from(wi.join(i, and_(*spot, when >= lo, when <= hi, which)))
        .where(wi.c.txn_type == "RETURN")
        for when, which in _moved_halves(i))).subquery("near")


def _pair_returns(conn: Connection) -> int:
    """An unreferenced RETURN gives back an over-issue: it belongs to the usage of the
    latest ISSUE at its spot (named or linked) before it, within the window, whose
    quantity less the return is what that usage scanned (else the latest one). One
    RETURN per ISSUE."""
    wi, ml = pass_work_issues, metric_links
    i, u = inventory_transactions.alias("issue"), usages.alias("owner")
    it = items.alias("return_item")
    link = ml.alias("issue_link")
    near = _issues_before_returns()
    owner = func.coalesce(func.nullif(i.c.usage_id, ""), link.c.usage_id)
    delay = seconds_between(wi.c.moved_at, _moved(i))
    surplus = (_base_quantity(i.c.quantity, i.c.uom, i.c.item_id, it.c.uom) - wi.c.quantity
               - _base_quantity(u.c.quantity, u.c.uom, i.c.item_id, it.c.uom))
    fits = case((func.abs(func.coalesce(surplus, 1.0)) < 1e-6, 1), else_=0)
    ranked = select(
        owner.label("usage_id"), u.c.encounter_id, wi.c.document_id, wi.c.posted_at,
        func.row_number().over(partition_by=wi.c.document_id,
                               order_by=(fits.desc(), _moved(i).desc(), i.c.document_id))
        .label("best_issue"),
        func.row_number().over(partition_by=i.c.document_id,
                               order_by=(fits.desc(), wi.c.moved_at, wi.c.document_id))
        .label("best_return"),
    ).select_from(
        near.join(wi, wi.c.document_id == near.c.return_id)
        .join(i, i.c.document_id == near.c.issue_id)
        .outerjoin(link, and_(link.c.hop == "inventory", link.c.target_id == i.c.document_id))
        .join(u, u.c.usage_id == owner)
        .outerjoin(it, it.c.item_id == i.c.item_id)
    ).where(wi.c.txn_type == "RETURN", delay >= 0, delay <= WINDOW_S,
            _not_linked("inventory", target_id=wi.c.document_id)).subquery("returns")
    return _insert_links(conn, select(
        ranked.c.usage_id, literal("inventory"), ranked.c.document_id, literal("return"),
        ranked.c.encounter_id, ranked.c.posted_at,
    ).where(ranked.c.best_issue == 1, ranked.c.best_return == 1))


def _pair_issues_by_serial(conn: Connection) -> None:
    """Same location, item and serial number; a device scanned twice (and issued twice)
    pairs first scan with first issue."""
    wi, wu = pass_work_issues, pass_work_usages
    scans = select(wu.c.usage_id, wu.c.encounter_id, wu.c.used_at.label("at"),
                   wu.c.location_id, wu.c.item_id,
                   wu.c.serial).where(wu.c.hop == "inventory", wu.c.serial != "",
                                      wu.c.serial.in_(select(wi.c.serial))).subquery("su")
    issues = select(wi.c.document_id.label("charge_id"), literal("").label("encounter_id"),
                    wi.c.moved_at.label("at"), wi.c.location_id, wi.c.item_id, wi.c.serial
                    ).where(wi.c.serial != "", wi.c.txn_type == "ISSUE").subquery("si")
    _pair_in_order(conn, scans, issues, ("location_id", "item_id", "serial"), "serial",
                   hop="inventory")


def _pair_issues_by_fallback(conn: Connection) -> int:
    """One round of mutual nearest neighbours between free scans and free issues at the
    same spot (the issue moved 0 to ``FALLBACK_ISSUE_DAYS`` after the scan); a pair whose
    quantity agrees, then whose lot agrees (the same, or neither has one), is preferred to
    a nearer one that does not. Returns the links made."""
    wi, wu = pass_work_issues, pass_work_usages
    delay = seconds_between(wi.c.moved_at, wu.c.used_at)
    agree = (case((func.abs(func.coalesce(wu.c.quantity, -2.0) - wi.c.quantity) < 1e-6, 2),
                  else_=0)
             # the same lot, or both without one: a scan with a lot whose issue names none
             # (or another) is less likely that issue's scan
             + case((wu.c.lot == wi.c.lot, 1), else_=0))
    pairs = select(
        wu.c.usage_id, wu.c.encounter_id, wi.c.document_id, wi.c.posted_at,
        func.row_number().over(partition_by=wi.c.document_id,
                               order_by=(agree.desc(), wu.c.used_at.desc(),
                                         wu.c.usage_id.desc()))
        .label("nearest_scan"),
        func.row_number().over(partition_by=wu.c.usage_id,
                               order_by=(agree.desc(), wi.c.moved_at, wi.c.document_id))
        .label("nearest_issue"),
    ).select_from(wi.join(wu, and_(wu.c.hop == "inventory",
                                   wu.c.location_id == wi.c.location_id,
                                   wu.c.item_id == wi.c.item_id))).where(
        wi.c.txn_type == "ISSUE", delay >= 0, delay <= WINDOW_S,
        _not_linked("inventory", usage_id=wu.c.usage_id),
        _not_linked("inventory", target_id=wi.c.document_id)).subquery("pairs")
    return _insert_links(conn, select(
        pairs.c.usage_id, literal("inventory"), pairs.c.document_id, literal("fallback"),
        pairs.c.encounter_id, pairs.c.posted_at,
    ).where(pairs.c.nearest_scan == 1, pairs.c.nearest_issue == 1))


def link_issues(conn: Connection, full: bool) -> None:
    """Link unreferenced inventory issues to the scans they most likely record."""
    ml = metric_links
    conn.execute(delete(ml).where(ml.c.hop == "inventory", in_scope(ml.c.encounter_id, full)))
    _fill_work_for_issues(conn, full)
    if full:
        # PostgreSQL: planned as a few pages, each free scan probed every inventory link
        # (a nested-loop anti join) in the fallback pairing
        analyze(conn, pass_work_issues, pass_work_usages)
    else:
        # a few hundred issues and returns near the dirty scans: without statistics
        # SQLite paired the returns by scanning every ISSUE of the store (0.5 s at 1M
        # usages, 0.13 s with them)
        analyze_scratch(conn, pass_work_issues)
    _pair_issues_by_serial(conn)
    # Two scans of one item close together can each be the other's issue's nearest; a
    # second round pairs the two the first one left.
    for done in range(MAX_ISSUE_ROUNDS):
        if full and done < 2:
            # PostgreSQL: each round's anti joins probe the inventory links made so far. On
            # a store's first full pass the statistics said there were none, and every
            # pair scanned them all (51 s, then 101 s a round at 1M usages)
            analyze(conn, metric_links)
        if not _pair_issues_by_fallback(conn):
            break
    _pair_returns(conn)
