"""Prices against their masters: chargemaster drift (the unit price billing posted against
the CDM line's price) and supply cost above contract (the unit cost the ERP booked on an
inventory issue against the contract price of its day). Read at read time from the
canonical tables, windowed by posting time; no work in the pass.

**Chargemaster drift.** A charge is judged when it survives (the pass's charge facts:
posted, not a credit, not voided, not reversed), its quantity is above 0, it posted in the
window and its CDM code has a line in ``cdm_entries``. Its unit price is amount /
quantity, the amount being the line total after mapping (a billing system that sends unit
prices maps ``times: quantity``, so the unit price it sent is what comes back). It
*drifts* when that differs from the CDM line's price per base unit by more than one cent
(``|amount - quantity x price| > 0.01 x quantity``): a line total rounded to the cent never
drifts. Its $ is ``amount - quantity x price``, signed (positive billed above the
chargemaster). ``cdm_entries`` holds one price per code, with no effective dates: a charge
is judged against the price the store holds now.

**Supply cost above contract.** An ISSUE is judged when it posted in the window, carries a
unit cost, its unit converts to the item's base unit and a contract of its item is valid
on its day (the UTC date the stock moved, ``moved_at``, else of ``posted_at``; both ends of
a contract inclusive; the lowest price when several are valid, as supply cost does). Unit
costs are per base unit, as the item master's and the contract prices are. It is *above
contract* when its unit cost exceeds that price by a cent or more; its $ is (unit cost -
contract price) x base quantity, the document as booked (a RETURN is not netted).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, Subquery, and_, case, cast, func, or_, select, true

from core.metric_values import MetricValue
from metrics.read.common import Read, scope_columns, scope_of, value
from store.schema import cdm_entries, charges, contract_prices, inventory_transactions, item_uoms
from store.schema import items as item_master
from store.schema_metrics import metric_charge_facts
from store.sqlfn import to_date

DRIFT_TOLERANCE = 0.01  # dollars per unit
STABLE_MARGIN = timedelta(days=2)
EPSILON = 1e-6  # float noise of a difference on SQLite
DRIFT_SCOPE = {"facility": "facility_id"}
SUPPLY_SCOPE = {"facility": "facility_id", "location": "location_id"}
DRIFT_FEEDS = ("charge",)
SUPPLY_FEEDS = ("inventory_transaction",)


def judged_charges(start: datetime, end: datetime) -> Subquery:
    """The charges chargemaster drift judges, posted in ``[start, end)``: facility, charge,
    CDM code, posting, quantity, CDM price, amount, ``usd`` (amount - quantity x price)
    and ``drifted`` (1 or 0)."""
    ch, f, cdm = charges, metric_charge_facts, cdm_entries
    qty = cast(ch.c.quantity, Float)
    price = cast(cdm.c.price, Float)
    usd = cast(ch.c.amount, Float) - qty * price
    drifted = case((func.abs(usd) > DRIFT_TOLERANCE * qty + EPSILON, 1), else_=0)
    return select(ch.c.facility_id, ch.c.charge_id, ch.c.cdm_code, ch.c.posted_at,
                  qty.label("quantity"), price.label("cdm_price"),
                  cast(ch.c.amount, Float).label("amount"), usd.label("usd"),
                  drifted.label("hit")).select_from(
        ch.join(f, f.c.charge_id == ch.c.charge_id).join(cdm, cdm.c.cdm_code == ch.c.cdm_code)
    ).where(ch.c.posted_at >= start, ch.c.posted_at < end, f.c.kind == "charge",
            f.c.surviving == true(), ch.c.quantity > 0).subquery("judged_charges")


def _stable_contracts(lo: date, hi: date) -> Subquery:
    """Per item with contracts: whether none starts or ends within ``[lo, hi]`` (then the
    same contracts are valid on every day of it), and the lowest price of those valid on
    all of it (NULL: none is)."""
    cp = contract_prices
    inside = or_(and_(cp.c.valid_from > lo, cp.c.valid_from <= hi),
                 and_(cp.c.valid_to.is_not(None), cp.c.valid_to >= lo, cp.c.valid_to < hi))
    covers = and_(cp.c.valid_from <= lo, or_(cp.c.valid_to.is_(None), cp.c.valid_to >= hi))
    return select(cp.c.item_id, (func.sum(case((inside, 1), else_=0)) == 0).label("stable"),
                  func.min(case((covers, cast(cp.c.price, Float)))).label("price")
                  ).group_by(cp.c.item_id).subquery("stable_contracts")


def judged_issues(start: datetime, end: datetime) -> Subquery:
    """The ISSUE documents supply cost above contract judges, posted in ``[start, end)``:
    facility, location, document, item, posting, base quantity, contract price, unit cost,
    ``usd`` ((unit cost - contract) x base quantity) and ``hit`` (1 above contract)."""
    t, cp, it = inventory_transactions, contract_prices, item_master
    day = to_date(func.coalesce(t.c.moved_at, t.c.posted_at))
    exact = select(func.min(cast(cp.c.price, Float))).where(
        cp.c.item_id == t.c.item_id, cp.c.valid_from <= day,
        or_(cp.c.valid_to.is_(None), cp.c.valid_to >= day)).scalar_subquery()
    # An item whose contracts neither start nor end within the window's days (a margin
    # before it for stock that moved before its posting) has one price on all of them:
    # no lookup per issue; other days and items look the price up.
    lo, hi = (start - STABLE_MARGIN).date(), end.date()
    ct = _stable_contracts(lo, hi)
    contract = case((and_(ct.c.stable == true(), day >= lo, day <= hi), ct.c.price),
                    else_=exact)
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == t.c.item_id, item_uoms.c.uom == t.c.uom).scalar_subquery()
    factor = case((t.c.uom == it.c.uom, 1.0), else_=conversion)
    issues = select(t.c.facility_id, t.c.location_id, t.c.document_id, t.c.item_id,
                    t.c.posted_at, (func.abs(cast(t.c.quantity, Float)) * factor)
                    .label("quantity"), contract.label("contract_price"),
                    cast(t.c.unit_cost, Float).label("unit_cost")).select_from(
        t.join(it, it.c.item_id == t.c.item_id).outerjoin(ct, ct.c.item_id == t.c.item_id)
    ).where(t.c.txn_type == "ISSUE", t.c.posted_at >= start, t.c.posted_at < end,
        t.c.unit_cost.is_not(None)).cte("issues").prefix_with("MATERIALIZED")
    i = issues.c
    gap = i.unit_cost - i.contract_price
    return select(i.facility_id, i.location_id, i.document_id, i.item_id, i.posted_at,
                  i.quantity, i.contract_price, i.unit_cost, (gap * i.quantity).label("usd"),
                  case((gap > 0.005, 1), else_=0).label("hit")).where(
        i.contract_price.is_not(None), i.quantity.is_not(None)).subquery("judged_issues")


def _scope_rows(conn: Connection, read: Read, judged: Subquery,
                mapping: dict[str, str]) -> list[tuple]:
    """Per scope: (scope..., judged, hits, Σ $ of hits, Σ |$| of hits, Σ $ of hits > 0)."""
    keys = scope_columns(read, judged, mapping)
    j = judged.c
    hit = j.hit == 1
    q = select(*keys, func.count(), func.sum(j.hit),
               func.sum(case((hit, j.usd), else_=0.0)),
               func.sum(case((hit, func.abs(j.usd)), else_=0.0)),
               func.sum(case((and_(hit, j.usd > 0), j.usd), else_=0.0)))
    if keys:
        q = q.group_by(*keys)
    return [tuple(r) for r in conn.execute(q)]


def off_price(conn: Connection, judged: Subquery, limit: int = 500) -> list[dict[str, Any]]:
    """The hits of ``judged_charges`` or ``judged_issues``, largest $ (either sign) first."""
    j = judged.c
    rows = conn.execute(select(judged).where(j.hit == 1).order_by(
        func.abs(j.usd).desc(), *(c for c in j if c.name.endswith("_id"))).limit(limit))
    return [{k: v for k, v in r._mapping.items() if k != "hit"} for r in rows]


def read_drift(conn: Connection, read: Read) -> list[MetricValue]:
    """``cdm_price_drift_count`` / ``_usd`` per scope (see the module docstring)."""
    rows = _scope_rows(conn, read, judged_charges(read.start, read.now), DRIFT_SCOPE)
    return _values(read, rows, DRIFT_FEEDS, "charges")


def read_supply(conn: Connection, read: Read) -> list[MetricValue]:
    """``supply_cost_above_contract_count`` / ``_usd`` per scope."""
    rows = _scope_rows(conn, read, judged_issues(read.start, read.now), SUPPLY_SCOPE)
    return _values(read, rows, SUPPLY_FEEDS, "issues")


def _values(read: Read, rows: list[tuple], feeds: tuple[str, ...], noun: str
            ) -> list[MetricValue]:
    n = len(read.scope_keys)
    out = []
    for r in rows:
        judged, hits = float(r[n]), float(r[n + 1] or 0)
        net, absolute, over = (float(x or 0) for x in r[n + 2:n + 5])
        extra = {noun: judged, "net_usd": round(net, 2), "over_usd": round(over, 2),
                 "under_usd": round(net - over, 2)}
        number = hits if read.metric.endswith("_count") else absolute
        out.append(value(read, scope_of(read, r), number, amount=absolute, numerator=hits,
                         denominator=judged, feeds=feeds, extra=extra, nodata=not judged))
    return out


def drifted_charges(conn: Connection, start: datetime, end: datetime,
                    limit: int = 500) -> list[dict[str, Any]]:
    """The charges posted in ``[start, end)`` that drift, largest $ (either sign) first."""
    return off_price(conn, judged_charges(start, end), limit)


def issues_above_contract(conn: Connection, start: datetime, end: datetime,
                          limit: int = 500) -> list[dict[str, Any]]:
    """The ISSUE documents posted in ``[start, end)`` above contract, largest $ first."""
    return off_price(conn, judged_issues(start, end), limit)


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "cdm_price_drift_count": read_drift,
    "cdm_price_drift_usd": read_drift,
    "supply_cost_above_contract_count": read_supply,
    "supply_cost_above_contract_usd": read_supply,
}
