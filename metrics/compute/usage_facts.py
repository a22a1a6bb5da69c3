"""Per-usage facts: mapping result, hop latencies, capture and inventory status, $.

Built in stages over the dirty encounters (or everything), each into a narrow pass table
keyed by usage id (``metrics.compute.pass_tables``): the *mapping stage* resolves each scan's item,
unit, CDM line and prices; ``metrics.compute.usage_hops`` summarises its messages, charges and
inventory transactions; the last ``INSERT ... SELECT`` joins them by key and decides the
statuses. The metric definitions live here as SQL expressions; ``metrics/README.md``
states them in words.

*Horizons*: a usage is called ``missing`` a charge (an issue) only once the billing (ERP)
feed of its facility has delivered postings later than the usage's SLA deadline, so a
feed that is behind, or a collector that is down, never turns into false leakage.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Subquery,
    Table,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
)

from core.config import ChargeSla
from metrics.compute.pass_tables import pass_charges, pass_issues, pass_messages, pass_usages
from metrics.compute.stitching import in_scope
from metrics.compute.usage_hops import summarise_charges, summarise_issues, summarise_messages
from store.schema import contract_prices, encounters, item_uoms, usage_events
from store.schema_metrics import metric_usage_facts, metric_work_items
from store.sqlfn import day_number, hour_floor, seconds_after, to_date
from store.types import UtcDateTime

QTY_TOLERANCE = 1e-6


def _seconds_to_horizon(horizon: Mapping[str, datetime],
                        w: Table) -> ColumnElement[float | None]:
    """Seconds from the usage to its facility's feed horizon (NULL when it has none); each
    branch subtracts a constant, which the database reads once, not once per row."""
    if not horizon:
        return cast(null(), Float)  # typed: PostgreSQL compares it with floats
    return case(*((w.c.facility_id == f,
                   seconds_after(literal(h, UtcDateTime()), w.c.used_at, w.c.used_day))
                  for f, h in sorted(horizon.items())), else_=null())


def map_usages(conn: Connection, sla: ChargeSla, full: bool) -> None:
    """The mapping stage: each usage of the dirty encounters (or all) with its item,
    unit conversion, CDM line, prices and failed-mapping flags, into ``pass_usages``."""
    u, d = usage_events, metric_work_items
    # Only scans in another unit than the base unit look up a conversion.
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == d.c.item_id, item_uoms.c.uom == u.c.uom).scalar_subquery()
    factor = case((u.c.uom == d.c.uom, 1.0), else_=conversion)
    # a contract's dates are the hospital's calendar: the scan's local date (used_on)
    used_day = func.coalesce(u.c.used_on, to_date(u.c.used_at))
    contract = select(func.min(contract_prices.c.price)).where(
        contract_prices.c.item_id == d.c.item_id, contract_prices.c.valid_from <= used_day,
        or_(contract_prices.c.valid_to.is_(None), contract_prices.c.valid_to >= used_day),
    ).scalar_subquery()
    # A price that holds over the whole period needs no lookup per usage date.
    contract_price = case((d.c.contract_stable, d.c.contract_price),
                          else_=cast(contract, Float))
    sla_s = 60.0 * case((d.c.item_class == "IMPLANT", sla.implant_charge_minutes),
                        (d.c.item_class == "DRUG", sla.drug_charge_minutes),
                        else_=sla.consumable_charge_minutes)

    def flag(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return case((cond, 1), else_=0)

    query = select(
        u.c.usage_id, u.c.encounter_id, u.c.facility_id, u.c.location_id, u.c.item_ref,
        u.c.uom, u.c.used_at, day_number(u.c.used_at), d.c.item_id, d.c.item_class,
        d.c.chargeable, d.c.cdm_code, cast(u.c.quantity, Float) * factor,
        func.coalesce(d.c.price, d.c.unit_cost),
        func.coalesce(contract_price, d.c.unit_cost),
        flag(d.c.item_id.is_(None)),
        flag(and_(u.c.uom != d.c.uom, conversion.is_(None))),
        flag(and_(d.c.chargeable == true(), d.c.cdm_code.is_(None))),
        flag(and_(d.c.chargeable == true(), d.c.coded == false())),
        sla_s,
    ).select_from(u.outerjoin(d, d.c.ref == u.c.item_ref)).where(
        in_scope(u.c.encounter_id, full))
    conn.execute(insert(pass_usages).from_select(
        ["usage_id", "encounter_id", "facility_id", "location_id", "item_ref", "uom",
         "used_at", "used_day", "item_id", "item_class", "chargeable", "cdm_code", "base_qty",
         "price", "unit_cost", "unknown", "no_unit", "no_xwalk", "no_hcpcs", "sla_s"], query))


def summarise_hops(conn: Connection, full: bool) -> None:
    """One row per usage of this pass for its messages, charges and issues."""
    summarise_messages(conn, full)
    summarise_charges(conn, full)
    summarise_issues(conn, full)


def _base(billing_horizon: Mapping[str, datetime],
          erp_horizon: Mapping[str, datetime]) -> Subquery:
    """Every value a usage fact is decided from, each computed once (the ``OFFSET 0``
    keeps both databases from inlining it into the many places the outer query uses it):
    the mapping stage's row and, by key, its hop summaries."""
    w, mpu, cpu, ipu = pass_usages, pass_messages, pass_charges, pass_issues
    return select(
        w.c.usage_id, w.c.encounter_id, w.c.facility_id, w.c.location_id, w.c.item_ref,
        w.c.uom, w.c.used_at, w.c.item_id, w.c.item_class, w.c.chargeable, w.c.cdm_code,
        w.c.base_qty, w.c.price, w.c.unit_cost, w.c.unknown, w.c.no_unit, w.c.no_xwalk,
        w.c.no_hcpcs, w.c.sla_s,
        mpu.c.channel,
        seconds_after(mpu.c.received_at, w.c.used_at, w.c.used_day).label("received_s"),
        seconds_after(mpu.c.sent_at, w.c.used_at, w.c.used_day).label("sent_s"),
        seconds_after(cpu.c.first, w.c.used_at, w.c.used_day).label("charge_s"),
        seconds_after(ipu.c.at, w.c.used_at, w.c.used_day).label("inventory_s"),
        _seconds_to_horizon(billing_horizon, w).label("billing_s"),
        _seconds_to_horizon(erp_horizon, w).label("erp_s"),
        cpu.c.survives, cpu.c.qty.label("charged_qty"), cpu.c.billed,
        ipu.c.qty.label("issued_qty"), ipu.c.method.label("inv_method"),
        encounters.c.procedure_code,
    ).select_from(
        w.outerjoin(mpu, mpu.c.usage_id == w.c.usage_id)
        .outerjoin(cpu, cpu.c.usage_id == w.c.usage_id)
        .outerjoin(ipu, ipu.c.usage_id == w.c.usage_id)
        .outerjoin(encounters, encounters.c.encounter_id == w.c.encounter_id)
    ).offset(0).subquery("base")


def build_usage_facts(conn: Connection, sla: ChargeSla, full: bool, *,
                      billing_horizon: Mapping[str, datetime],
                      erp_horizon: Mapping[str, datetime]) -> None:
    """Rebuild ``metric_usage_facts`` for the dirty encounters (or all) from the mapping
    stage (``map_usages``) and the hop summaries (``summarise_hops``) of this pass."""
    mf = metric_usage_facts
    conn.execute(delete(mf) if full else delete(mf).where(in_scope(mf.c.encounter_id, False)))
    b = _base(billing_horizon, erp_horizon)
    unknown, no_unit, no_xwalk, no_hcpcs = (b.c.unknown == 1, b.c.no_unit == 1,
                                            b.c.no_xwalk == 1, b.c.no_hcpcs == 1)
    chargeable = b.c.chargeable == true()
    # A unit that does not convert is a billing mapping failure on a chargeable item
    # only; on a non-chargeable scan it is an inventory-quantity problem (below).
    no_billing_unit = and_(no_unit, chargeable)
    reason = case((unknown, "unknown_item"), (no_billing_unit, "unit_not_convertible"),
                  (no_xwalk, "no_crosswalk"), (no_hcpcs, "cdm_without_hcpcs"), else_="")
    subject = case((unknown, b.c.item_ref), (no_billing_unit, b.c.item_id + "/" + b.c.uom),
                   (no_xwalk, b.c.item_id), (no_hcpcs, b.c.cdm_code), else_="")
    due = func.coalesce(b.c.billing_s, -1.0) > b.c.sla_s
    capture = case(
        (unknown, "unknown"),
        (b.c.chargeable == false(), "not_chargeable"),
        (or_(no_unit, no_xwalk), "unmapped"),
        (b.c.survives == 1, case((b.c.charge_s <= b.c.sla_s, "on_time"), else_="late")),
        # One problem, one bucket: a CDM line without HCPCS whose charge never posted is
        # that failed mapping's $ (revenue at risk counts it once), not also leakage.
        (and_(no_hcpcs, due), "unmapped"),
        (due, "missing"),
        else_="pending",
    )
    inventory = case(
        (unknown, "n/a"),
        (no_billing_unit, "n/a"),
        (b.c.inventory_s.is_not(None), "issued"),
        (func.coalesce(b.c.erp_s, -1.0) > 60.0 * sla.inventory_issue_minutes, "missing"),
        else_="pending",
    )
    issued_off = and_(b.c.inventory_s.is_not(None), func.coalesce(
        func.abs(b.c.issued_qty - b.c.base_qty), 1.0) > QTY_TOLERANCE)
    charged_off = and_(b.c.survives == 1, func.coalesce(
        func.abs(b.c.charged_qty - b.c.base_qty), 1.0) > QTY_TOLERANCE)
    # A non-chargeable scan in a unit the item master cannot convert: whatever was
    # issued cannot be reconciled with it (issued_off compares with a NULL quantity).
    mismatch = func.coalesce(and_(~unknown, ~no_billing_unit, or_(issued_off, charged_off)),
                             false())
    query = select(
        b.c.usage_id, b.c.encounter_id, b.c.facility_id, b.c.location_id,
        func.coalesce(b.c.item_id, ""), func.coalesce(b.c.item_class, ""),
        func.coalesce(b.c.channel, ""), hour_floor(b.c.used_at), b.c.used_at,
        func.coalesce(b.c.chargeable, false()), b.c.uom, b.c.base_qty, b.c.price,
        b.c.unit_cost, reason, func.coalesce(subject, ""), b.c.sla_s, b.c.received_s,
        b.c.sent_s, b.c.charge_s, b.c.inventory_s, b.c.charged_qty, b.c.issued_qty,
        capture, inventory, func.coalesce(b.c.inv_method, ""), mismatch, b.c.billed,
        func.coalesce(b.c.procedure_code, ""),
    )
    cols = ["usage_id", "encounter_id", "facility_id", "location_id", "item_id",
            "item_class", "channel", "bucket", "used_at", "chargeable", "uom", "base_qty",
            "price", "unit_cost", "mapping_reason", "mapping_subject", "sla_s",
            "received_s", "sent_s", "charge_s", "inventory_s", "charged_qty", "issued_qty",
            "capture", "inventory", "inv_method", "qty_mismatch", "billed_usd",
            "procedure_code"]
    conn.execute(insert(mf).from_select(cols, query))
