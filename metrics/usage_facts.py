"""Per-usage facts: mapping result, hop latencies, capture and inventory status, $.

One ``INSERT ... SELECT`` over the dirty encounters (or everything). The metric
definitions live here as SQL expressions; ``metrics/README.md`` states them in words.

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
    union_all,
)

from chargeline.config import ChargeSla
from metrics.sqlfn import hour_floor, seconds_between, to_date
from metrics.stitching import in_scope
from store.schema import (
    contract_prices,
    encounters,
    interface_messages,
    inventory_transactions,
    item_uoms,
    message_usages,
    usage_events,
)
from store.schema_metrics import (
    metric_charge_facts,
    metric_duplicates,
    metric_links,
    metric_usage_facts,
    metric_work_items,
)
from store.types import UtcDateTime

QTY_TOLERANCE = 1e-6


def _for_usages_in_scope(usage_id: ColumnElement[str], full: bool) -> ColumnElement[bool]:
    """``usage_id`` names a usage of a dirty encounter (any usage when ``full``)."""
    if full:
        return usage_id != ""
    return usage_id.in_(select(usage_events.c.usage_id).where(
        in_scope(usage_events.c.encounter_id, False)))


def _charges_per_usage(full: bool) -> Subquery:
    """First charge posted (credits and voided excluded), whether one survives, and the
    charged quantity and billed $ of the surviving charges that are not extras."""
    cf, md = metric_charge_facts, metric_duplicates
    billed = and_(cf.c.surviving, md.c.charge_id.is_(None))
    # A serial-key extra is the only charge of its own (second) scan: its quantity is
    # what that scan was charged; the overbilling shows in the duplicate metrics.
    counted = and_(cf.c.surviving, or_(md.c.charge_id.is_(None), md.c.dup_key == "serial"))
    return select(
        cf.c.usage_id,
        func.min(case((cf.c.kind == "charge", cf.c.posted_at), else_=null())).label("first"),
        func.max(case((cf.c.surviving, 1), else_=0)).label("survives"),
        func.sum(case((counted, cf.c.quantity), else_=0.0)).label("qty"),
        func.sum(case((billed, cf.c.amount), else_=0.0)).label("billed"),
    ).select_from(cf.outerjoin(md, md.c.charge_id == cf.c.charge_id)).where(
        _for_usages_in_scope(cf.c.usage_id, full)
    ).group_by(cf.c.usage_id).subquery("cpu")


def _messages_per_usage(full: bool) -> Subquery:
    """First received and first accepted (sent) times, and the channel, per usage."""
    mu, m = message_usages, interface_messages
    accepted = or_(m.c.ack_code.is_(None), m.c.ack_code == "AA")
    q = select(
        mu.c.usage_id,
        func.min(m.c.received_at).label("received_at"),
        func.min(case((accepted, m.c.sent_at), else_=null())).label("sent_at"),
        func.min(m.c.channel).label("channel"),
    ).select_from(mu.join(m, and_(m.c.channel == mu.c.channel,
                                  m.c.control_id == mu.c.control_id)))
    if not full:
        q = q.where(_for_usages_in_scope(mu.c.usage_id, full))
    return q.group_by(mu.c.usage_id).subquery("mpu")


def _issues_per_usage(full: bool) -> Subquery:
    """First ISSUE posted and net issued base quantity (ISSUE minus RETURN) per usage,
    over the transactions naming the usage and those linked to it."""
    t, ml, d = inventory_transactions, metric_links, metric_work_items
    fields = (t.c.txn_type, t.c.posted_at, t.c.quantity, t.c.uom, t.c.item_id)
    direct = select(t.c.usage_id, literal("usage_id").label("method"), *fields).where(
        _for_usages_in_scope(t.c.usage_id, full))
    linked = select(ml.c.usage_id, ml.c.method, *fields).select_from(
        ml.join(t, t.c.document_id == ml.c.target_id)).where(
        ml.c.hop == "inventory", _for_usages_in_scope(ml.c.usage_id, full))
    both = union_all(direct, linked).subquery("both_links")
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == both.c.item_id, item_uoms.c.uom == both.c.uom).scalar_subquery()
    factor = case((both.c.uom == d.c.uom, 1.0), else_=conversion)
    signed = case((both.c.txn_type == "ISSUE", 1.0), (both.c.txn_type == "RETURN", -1.0),
                  else_=0.0)
    return select(
        both.c.usage_id,
        func.min(case((both.c.txn_type == "ISSUE", both.c.posted_at), else_=null()))
        .label("at"),
        func.sum(signed * func.abs(cast(both.c.quantity, Float)) * factor).label("qty"),
        func.min(both.c.method).label("method"),
    ).select_from(both.outerjoin(d, d.c.ref == both.c.item_id)).group_by(
        both.c.usage_id).subquery("ipu")


def _per_facility(horizon: Mapping[str, datetime]) -> ColumnElement[datetime | None]:
    """The facility's feed horizon as a SQL expression (NULL when it has none)."""
    if not horizon:
        return null()
    return case(*((usage_events.c.facility_id == f, literal(h, UtcDateTime()))
                  for f, h in sorted(horizon.items())), else_=null())


def _base(sla: ChargeSla, full: bool, billing_horizon: Mapping[str, datetime],
          erp_horizon: Mapping[str, datetime]) -> Subquery:
    """Every value a usage fact is decided from, each computed once (the ``OFFSET 0``
    keeps both databases from inlining it into the many places the outer query uses it)."""
    u, d = usage_events, metric_work_items
    cpu, mpu, ipu = _charges_per_usage(full), _messages_per_usage(full), _issues_per_usage(full)
    # Only scans in another unit than the base unit look up a conversion.
    conversion = select(cast(item_uoms.c.factor, Float)).where(
        item_uoms.c.item_id == d.c.item_id, item_uoms.c.uom == u.c.uom).scalar_subquery()
    factor = case((u.c.uom == d.c.uom, 1.0), else_=conversion)
    used_day = to_date(u.c.used_at)
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

    return select(
        u.c.usage_id, u.c.encounter_id, u.c.facility_id, u.c.location_id, u.c.item_ref,
        u.c.uom, u.c.used_at, d.c.item_id, d.c.item_class, d.c.chargeable, d.c.cdm_code,
        (cast(u.c.quantity, Float) * factor).label("base_qty"),
        func.coalesce(d.c.price, d.c.unit_cost).label("price"),
        func.coalesce(contract_price, d.c.unit_cost).label("unit_cost"),
        flag(d.c.item_id.is_(None)).label("unknown"),
        flag(and_(u.c.uom != d.c.uom, conversion.is_(None))).label("no_unit"),
        flag(and_(d.c.chargeable == true(), d.c.cdm_code.is_(None))).label("no_xwalk"),
        flag(and_(d.c.chargeable == true(), d.c.coded == false())).label("no_hcpcs"),
        sla_s.label("sla_s"),
        mpu.c.channel,
        seconds_between(mpu.c.received_at, u.c.used_at).label("received_s"),
        seconds_between(mpu.c.sent_at, u.c.used_at).label("sent_s"),
        seconds_between(cpu.c.first, u.c.used_at).label("charge_s"),
        seconds_between(ipu.c.at, u.c.used_at).label("inventory_s"),
        seconds_between(_per_facility(billing_horizon), u.c.used_at).label("billing_s"),
        seconds_between(_per_facility(erp_horizon), u.c.used_at).label("erp_s"),
        cpu.c.survives, cpu.c.qty.label("charged_qty"), cpu.c.billed,
        ipu.c.qty.label("issued_qty"), ipu.c.method.label("inv_method"),
        encounters.c.procedure_code,
    ).select_from(
        u.outerjoin(d, d.c.ref == u.c.item_ref)
        .outerjoin(cpu, cpu.c.usage_id == u.c.usage_id)
        .outerjoin(mpu, mpu.c.usage_id == u.c.usage_id)
        .outerjoin(ipu, ipu.c.usage_id == u.c.usage_id)
        .outerjoin(encounters, encounters.c.encounter_id == u.c.encounter_id)
    ).where(in_scope(u.c.encounter_id, full)).offset(0).subquery("base")


def build_usage_facts(conn: Connection, sla: ChargeSla, full: bool, *,
                      billing_horizon: Mapping[str, datetime],
                      erp_horizon: Mapping[str, datetime]) -> None:
    """Rebuild ``metric_usage_facts`` for the dirty encounters (or all); needs the item
    dimension (``itemdim.fill_item_dim``) of this pass."""
    mf = metric_usage_facts
    conn.execute(delete(mf) if full else delete(mf).where(in_scope(mf.c.encounter_id, False)))
    b = _base(sla, full, billing_horizon, erp_horizon)
    unknown, no_unit, no_xwalk, no_hcpcs = (b.c.unknown == 1, b.c.no_unit == 1,
                                            b.c.no_xwalk == 1, b.c.no_hcpcs == 1)
    reason = case((unknown, "unknown_item"), (no_unit, "unit_not_convertible"),
                  (no_xwalk, "no_crosswalk"), (no_hcpcs, "cdm_without_hcpcs"), else_="")
    subject = case((unknown, b.c.item_ref), (no_unit, b.c.item_id + "/" + b.c.uom),
                   (no_xwalk, b.c.item_id), (no_hcpcs, b.c.cdm_code), else_="")
    capture = case(
        (unknown, "unknown"),
        (b.c.chargeable == false(), "not_chargeable"),
        (or_(no_unit, no_xwalk), "unmapped"),
        (b.c.survives == 1, case((b.c.charge_s <= b.c.sla_s, "on_time"), else_="late")),
        (func.coalesce(b.c.billing_s, -1.0) > b.c.sla_s, "missing"),
        else_="pending",
    )
    inventory = case(
        (or_(unknown, no_unit), "n/a"),
        (b.c.inventory_s.is_not(None), "issued"),
        (func.coalesce(b.c.erp_s, -1.0) > 60.0 * sla.inventory_issue_minutes, "missing"),
        else_="pending",
    )
    issued_off = and_(b.c.inventory_s.is_not(None), func.coalesce(
        func.abs(b.c.issued_qty - b.c.base_qty), 1.0) > QTY_TOLERANCE)
    charged_off = and_(b.c.survives == 1, func.coalesce(
        func.abs(b.c.charged_qty - b.c.base_qty), 1.0) > QTY_TOLERANCE)
    mismatch = func.coalesce(and_(~unknown, ~no_unit, or_(issued_off, charged_off)), false())
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
