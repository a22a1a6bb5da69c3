"""The item dimension of one pass: scanned reference -> item, class, CDM line and price.

Usage events name items as scanned (an ERP item id, sometimes a GTIN). Resolving the
reference, the crosswalk and the charge-master line once per item, into a small table
keyed by the reference, lets each usage fact take them in one index probe.
"""

from __future__ import annotations

from sqlalchemy import Connection, Float, and_, cast, delete, func, insert, select

from store.schema import cdm_entries, crosswalks, items
from store.schema_metrics import metric_work_items


def fill_item_dim(conn: Connection) -> None:
    """Rebuild ``metric_work_items`` from the item master, crosswalk and CDM."""
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
    conn.execute(insert(wi).from_select(
        ["ref", "item_id", "item_class", "chargeable", "uom", "unit_cost", "cdm_code",
         "price", "coded"],
        select(refs.c.ref, items.c.item_id, items.c.item_class, items.c.chargeable,
               items.c.uom, cast(items.c.unit_cost, Float), cdm.c.cdm_code,
               cast(cdm.c.price, Float), func.coalesce(coded, False))
        .select_from(refs.join(items, items.c.item_id == refs.c.item_id)
                     .outerjoin(crosswalks, crosswalks.c.item_id == items.c.item_id)
                     .outerjoin(cdm, cdm.c.cdm_code == crosswalks.c.cdm_code))))
