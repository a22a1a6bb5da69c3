"""The item dimension of one pass: scanned reference -> item, class, CDM line and price.

Usage events name items as scanned (an ERP item id, sometimes a GTIN). Resolving the
reference, the crosswalk and the charge-master line once per item, into a small table
keyed by the reference, lets each usage fact take them in one index probe.

A chargeable item without a crosswalk gets a *suggested* CDM line: the one line whose
description equals the item's (trimmed, case-insensitive), as a charge-master analyst
would look it up. Its price is the $ at risk of the item's scans; without a unique match
the ERP unit cost stands in (the least the hospital loses).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Connection,
    Float,
    Subquery,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    null,
    or_,
    select,
    true,
)

from store.schema import cdm_entries, contract_prices, crosswalks, items
from store.schema_metrics import metric_work_items


def _contracts(period: tuple[date, date] | None) -> Subquery:
    """Per item: whether one contract price holds for the whole period, and that price."""
    cp = contract_prices
    if period is None:  # no usage yet: nothing to price
        return select(cp.c.item_id, false().label("stable"),
                      cast(null(), Float).label("price")).where(false()).subquery("ct")
    lo, hi = period
    inside = or_(and_(cp.c.valid_from > lo, cp.c.valid_from <= hi),
                 and_(cp.c.valid_to.is_not(None), cp.c.valid_to >= lo, cp.c.valid_to < hi))
    covers = and_(cp.c.valid_from <= lo, or_(cp.c.valid_to.is_(None), cp.c.valid_to >= hi))
    return select(
        cp.c.item_id,
        (func.sum(case((inside, 1), else_=0)) == 0).label("stable"),
        func.min(case((covers, cast(cp.c.price, Float)))).label("price"),
    ).group_by(cp.c.item_id).subquery("ct")


def fill_item_dim(conn: Connection, period: tuple[date, date] | None) -> None:
    """Rebuild ``metric_work_items`` from the item master, crosswalk, CDM and contracts
    (``period``: first and last usage date in the store)."""
    wi = metric_work_items
    conn.execute(delete(wi))
    by_id = select(items.c.item_id.label("ref"), items.c.item_id)
    # A GTIN resolves when it names exactly one item and is not itself an item id.
    by_gtin = select(items.c.gtin.label("ref"), func.min(items.c.item_id).label("item_id")
                     ).where(items.c.gtin != "", items.c.gtin.not_in(select(items.c.item_id))
                             ).group_by(items.c.gtin).having(func.count() == 1)
    refs = by_id.union_all(by_gtin).subquery("refs")
    cdm = cdm_entries
    coded = and_(cdm.c.hcpcs != "", cdm.c.revenue_code != "")
    desc = func.lower(func.trim(cdm_entries.c.description))
    unique_desc = select(desc.label("desc"), func.min(cdm_entries.c.cdm_code).label("code"),
                         func.min(cdm_entries.c.price).label("price")).group_by(desc).having(
        func.count() == 1).subquery("by_desc")
    unlinked = and_(crosswalks.c.item_id.is_(None), items.c.chargeable)
    guess = case((unlinked, unique_desc.c.code))
    ct = _contracts(period)
    conn.execute(insert(wi).from_select(
        ["ref", "item_id", "item_class", "chargeable", "uom", "unit_cost", "cdm_code",
         "suggested_cdm", "price", "coded", "contract_stable", "contract_price"],
        select(refs.c.ref, items.c.item_id, items.c.item_class, items.c.chargeable,
               items.c.uom, cast(items.c.unit_cost, Float), cdm.c.cdm_code, guess,
               cast(func.coalesce(cdm.c.price, case((unlinked, unique_desc.c.price))), Float),
               func.coalesce(coded, False), func.coalesce(ct.c.stable, true()), ct.c.price)
        .select_from(refs.join(items, items.c.item_id == refs.c.item_id)
                     .outerjoin(crosswalks, crosswalks.c.item_id == items.c.item_id)
                     .outerjoin(cdm, cdm.c.cdm_code == crosswalks.c.cdm_code)
                     .outerjoin(ct, ct.c.item_id == items.c.item_id)
                     .outerjoin(unique_desc, unique_desc.c.desc == func.lower(
                         func.trim(items.c.description))))))
