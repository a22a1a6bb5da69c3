"""Aggregate facts and feeds into summable points per hour and day bucket.

Every stored number is a sum, so a window is the sum of its buckets and ratios are formed
at read time from numerator and denominator. Usage-derived points are maintained by
*delta* on an incremental pass: the dirty encounters' old facts, subtracted before they
are rebuilt, and their new facts, added after, make one change per hour, which is applied
to the hours and days once; so an inpatient encounter that spans a week costs its own
rows, not a week of buckets. Feed points (messages, API calls,
replenishment) are recomputed for the hours new rows fall in; duplicate points for the
hours the pass's extras fall in.

After retention (``metrics.compute.retention``) the hours before its cutoff are final:
every function here takes that horizon (``since``, or ranges clipped by ``from_horizon``)
and neither rebuilds nor moves a point before it, full pass or incremental.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)

from metrics.catalog import HELD_AFTER_S
from metrics.compute.pass_tables import pass_points, pass_usage_points
from metrics.compute.stitching import in_scope
from store.schema import api_calls, interface_messages, replenishment_documents
from store.schema_metrics import (
    USAGE_POINT_COLUMNS,
    metric_duplicates,
    metric_points,
    metric_state,
    metric_usage_facts,
    metric_usage_points,
)
from store.sqlfn import day_floor, hour_floor, seconds_between
from store.upsert import dialect_insert

Ranges = Sequence[tuple[datetime, datetime]] | None  # half-open hour ranges; None = all
REASONS = ("unknown_item", "no_crosswalk", "cdm_without_hcpcs", "unit_not_convertible")
POINT_COLUMNS = ("metric", "grain", "bucket", "facility_id", "location_id", "item_class",
                 "channel", "detail", "num", "den", "amount")
FEED_METRICS = ("messages", "msg_status", "msg_held", "api_calls", "replenishment")
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
RETAINED_BEFORE = "retained_before"  # metric_state: points of hours before it are final


def retained_before(conn: Connection) -> datetime | None:
    """The cutoff of the last retention run (``metrics.compute.retention``): the hours
    before it are final. None: nothing was ever aged out."""
    value = conn.execute(select(metric_state.c.value).where(
        metric_state.c.name == RETAINED_BEFORE)).scalar_one_or_none()
    return datetime.fromisoformat(value) if value else None


def from_horizon(ranges: Ranges, since: datetime | None) -> Ranges:
    """``ranges`` (None = all hours) without the hours before ``since`` (None: no horizon):
    the hours a pass may still compute after retention made the earlier ones final."""
    if since is None:
        return ranges
    if ranges is None:
        return [(since, END_OF_TIME)]
    return [(max(lo, since), hi) for lo, hi in ranges if hi > since]


def ack_wait_s() -> ColumnElement[float]:
    """Seconds from the engine's receipt of a message to the receiver's ACK (NULL while
    it is queued)."""
    m = interface_messages
    return seconds_between(m.c.sent_at, m.c.received_at)


def held() -> ColumnElement[bool]:
    """The message is *held*: acknowledged more than ``HELD_AFTER_S`` after receipt."""
    return ack_wait_s() > HELD_AFTER_S


def in_ranges(column: ColumnElement[datetime], ranges: Ranges) -> ColumnElement[bool]:
    """``column`` falls in one of the half-open ranges (true when ``ranges`` is None)."""
    if ranges is None:
        return true()
    if not ranges:
        return literal(False)
    return or_(*(and_(column >= lo, column < hi) for lo, hi in ranges))


def _n(cond: ColumnElement[bool]) -> ColumnElement[float]:
    return func.sum(case((cond, 1.0), else_=0.0))


def _usd(cond: ColumnElement[bool], value: ColumnElement[float]) -> ColumnElement[float]:
    return func.sum(case((cond, func.coalesce(value, 0.0)), else_=0.0))


def expected_usd() -> ColumnElement[float]:
    """What the usage should bill: base quantity x CDM price (0 when unknown)."""
    f = metric_usage_facts
    return func.coalesce(f.c.base_qty * f.c.price, 0.0)


def supply_cost_usd() -> ColumnElement[float]:
    """What the supply cost: base quantity x contract price (item cost without one)."""
    f = metric_usage_facts
    return func.coalesce(f.c.base_qty * f.c.unit_cost, 0.0)


def _usage_measures() -> dict[str, ColumnElement[float]]:
    f = metric_usage_facts
    cap, inv, reason = f.c.capture, f.c.inventory, f.c.mapping_reason
    usd = expected_usd()
    charged = cap.in_(("on_time", "late"))
    measures = {
        "usages": func.count(),
        "chargeable": _n(f.c.chargeable),
        "due": _n(cap.in_(("on_time", "late", "missing", "unmapped"))),
        "on_time": _n(cap == "on_time"),
        "late": _n(cap == "late"),
        "late_usd": _usd(cap == "late", usd),
        "missing": _n(cap == "missing"),
        "missing_usd": _usd(cap == "missing", usd),
        "pending": _n(cap == "pending"),
        "unmapped": _n(cap == "unmapped"),
        **{f"fm_{r}": _n(reason == r) for r in REASONS},
        **{f"fm_{r}_usd": _usd(reason == r, usd) for r in REASONS},
        "inv_due": _n(inv.in_(("issued", "missing"))),
        "inv_issued": _n(inv == "issued"),
        "inv_missing": _n(inv == "missing"),
        "charged_not_issued": _n(and_(inv == "missing", charged)),
        "issued_not_charged": _n(and_(inv == "issued", f.c.chargeable,
                                      cap.in_(("missing", "unmapped")))),
        "qty_mismatch": _n(f.c.qty_mismatch),
        "inv_accurate": _n(and_(inv == "issued", ~f.c.qty_mismatch)),
        "supply_cost_usd": func.sum(supply_cost_usd()),
        "billed_usd": func.sum(func.coalesce(f.c.billed_usd, 0.0)),
        # charge lag: the usages with a first charge and their seconds to it
        "charged": _n(f.c.charge_s.is_not(None)),
        "charge_s_sum": func.sum(func.coalesce(f.c.charge_s, 0.0)),
    }
    assert tuple(measures) == USAGE_POINT_COLUMNS
    return measures


@dataclass(frozen=True)
class _Spec:
    """One points table fed from usage facts: its key columns and measures."""

    table: Table
    keys: tuple[str, ...]
    measures: tuple[str, ...]

    def query(self, grain: str, full: bool, since: datetime | None = None) -> object:
        f = metric_usage_facts
        bucket = f.c.bucket if grain == "hour" else day_floor(f.c.bucket)
        if self.table is metric_usage_points:
            dims = (bucket, f.c.facility_id, f.c.location_id, f.c.item_class)
            head: tuple = (literal(grain), *dims)
            values = tuple(_usage_measures().values())
        else:  # margin by procedure: billed and supply cost per facility and procedure
            dims = (bucket, f.c.facility_id, f.c.procedure_code)
            billed = func.sum(func.coalesce(f.c.billed_usd, 0.0))
            cost = func.sum(supply_cost_usd())
            head = (literal("margin"), literal(grain), bucket, f.c.facility_id, literal(""),
                    literal(""), literal(""), f.c.procedure_code)
            values = (billed, cost, billed - cost)
        final = [] if since is None else [f.c.bucket >= since]
        return select(*head, *values).where(in_scope(f.c.encounter_id, full), *final
                                            ).group_by(*dims)


_SPECS = (
    _Spec(metric_usage_points, ("grain", "bucket", "facility_id", "location_id", "item_class"),
          USAGE_POINT_COLUMNS),
    _Spec(metric_points, POINT_COLUMNS[:8], ("num", "den", "amount")),
)


def usage_points_full(conn: Connection, since: datetime | None = None) -> None:
    """Rebuild every usage-derived point from the facts (those from ``since`` on, a UTC
    midnight, when retention made the earlier ones final): hours in one scan of the
    facts, days as sums of the hours (a few thousand rows, not the facts again)."""
    up, mp = metric_usage_points, metric_points
    days = from_horizon(None, since)
    conn.execute(delete(up).where(in_ranges(up.c.bucket, days)))
    conn.execute(delete(mp).where(mp.c.metric == "margin", in_ranges(mp.c.bucket, days)))
    for spec in _SPECS:
        conn.execute(insert(spec.table).from_select(
            [*spec.keys, *spec.measures], spec.query("hour", True, since)))
    _days_from_hours(conn, metric_usage_points, ("facility_id", "location_id", "item_class"),
                     USAGE_POINT_COLUMNS, None, days)
    _days_from_hours(conn, metric_points, POINT_COLUMNS[3:8], ("num", "den", "amount"),
                     ("margin",), days)


def _days_from_hours(conn: Connection, table: Table, dims: tuple[str, ...],
                     measures: tuple[str, ...], metrics: tuple[str, ...] | None,
                     days: Ranges = None) -> None:
    """Replace the day rows of ``days`` (all when None) by the sums of their hour rows."""
    t = table
    keys = [t.c.metric] if metrics else []
    scope = [t.c.metric.in_(metrics)] if metrics else []
    conn.execute(delete(t).where(t.c.grain == "day", in_ranges(t.c.bucket, days), *scope))
    day = day_floor(t.c.bucket)
    group = (*keys, day, *(t.c[d] for d in dims))
    conn.execute(insert(t).from_select(
        [*(["metric"] if metrics else []), "grain", "bucket", *dims, *measures],
        select(*keys, literal("day"), day, *(t.c[d] for d in dims),
               *(func.sum(t.c[m]) for m in measures))
        .where(t.c.grain == "hour", in_ranges(t.c.bucket, days), *scope).group_by(*group)))


def usage_points_change(conn: Connection, sign: int, since: datetime | None = None) -> None:
    """Add the dirty encounters' facts times ``sign`` to this pass's change of the hour
    points (one scan of their facts per points table): -1 before the facts are rebuilt,
    +1 after; hours before ``since`` (final after retention) are left out.
    ``apply_usage_points_change`` then adds the change to the points once."""
    for spec, scratch in zip(_SPECS, (pass_usage_points, pass_points), strict=True):
        change = spec.query("hour", False, since).subquery("change")
        n = len(spec.keys)
        rows = select(*list(change.c)[:n], *(c * sign for c in list(change.c)[n:]))
        stmt = dialect_insert(conn, scratch).from_select([*spec.keys, *spec.measures],
                                                         rows.where(true()))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=list(spec.keys),
            set_={m: scratch.c[m] + stmt.excluded[m] for m in spec.measures}))


def apply_usage_points_change(conn: Connection) -> None:
    """Add this pass's change (``usage_points_change``) to the hour points and, summed by
    day, to the day points; then drop the buckets it emptied. Only the hours and days the
    change names can have emptied (a range of the key each)."""
    for spec, scratch in zip(_SPECS, (pass_usage_points, pass_points), strict=True):
        keys = [scratch.c[k] for k in spec.keys]
        day_keys = [literal("day").label("grain") if k.name == "grain" else
                    day_floor(k).label("bucket") if k.name == "bucket" else k for k in keys]
        hours = select(*keys, *(scratch.c[m] for m in spec.measures))
        days = select(*day_keys, *(func.sum(scratch.c[m]) for m in spec.measures)
                      ).group_by(*(k for k in day_keys if k.name != "grain"))
        for rows in (hours, days):
            t = spec.table
            stmt = dialect_insert(conn, t).from_select([*spec.keys, *spec.measures],
                                                       rows.where(true()))
            stmt = stmt.on_conflict_do_update(
                index_elements=list(spec.keys),
                set_={m: t.c[m] + stmt.excluded[m] for m in spec.measures})
            conn.execute(stmt)
    up, scratch = metric_usage_points, pass_usage_points
    for grain, bucket in (("hour", scratch.c.bucket), ("day", day_floor(scratch.c.bucket))):
        conn.execute(delete(up).where(up.c.grain == grain, up.c.usages <= 0.5,
                                      up.c.bucket.in_(select(bucket).distinct())))


def duplicate_hours(conn: Connection) -> set[datetime]:
    """The hours the dirty encounters' extras fall in: an incremental pass notes them
    before its duplicates are found again and after, and recomputes those hours alone."""
    md = metric_duplicates
    return set(conn.execute(select(md.c.bucket).where(
        in_scope(md.c.encounter_id, False)).distinct()).scalars())


def duplicate_points(conn: Connection, hours: Ranges = None) -> None:
    """Duplicate groups, extra units and overcharged $ per hour, and the days as sums of
    the hours: from the extras alone, which carry their dimensions (a few thousand rows).
    ``hours`` (half-open ranges; None = all) limits the work to the hours an incremental
    pass touched and their days; every extra of a group with one there is ranked, so a
    group still counts once."""
    mp, md = metric_points, metric_duplicates
    if hours is not None and not hours:
        return
    conn.execute(delete(mp).where(mp.c.metric == "duplicates", mp.c.grain == "hour",
                                  in_ranges(mp.c.bucket, hours)))
    ranked = select(
        md.c.bucket, md.c.facility_id, md.c.location_id, md.c.item_class, md.c.quantity,
        md.c.amount, func.row_number().over(partition_by=md.c.dup_of,
                                            order_by=(md.c.posted_at, md.c.charge_id)
                                            ).label("nth"),
    )
    if hours is not None:
        ranked = ranked.where(md.c.dup_of.in_(
            select(md.c.dup_of).where(in_ranges(md.c.bucket, hours))))
    extras = ranked.subquery("extras")
    dims = (extras.c.bucket, extras.c.facility_id, extras.c.location_id, extras.c.item_class)
    # A group counts once, in the bucket of its first extra charge.
    conn.execute(insert(mp).from_select(list(POINT_COLUMNS), select(
        literal("duplicates"), literal("hour"), *dims, literal(""), literal(""),
        _n(extras.c.nth == 1), func.sum(extras.c.quantity), func.sum(extras.c.amount),
    ).where(in_ranges(extras.c.bucket, hours)).group_by(*dims)))
    _days_from_hours(conn, mp, POINT_COLUMNS[3:8], ("num", "den", "amount"), ("duplicates",),
                     day_ranges(hours))


def _feed_queries(ranges: Ranges) -> list[object]:
    """msg_status (per status letter; ``den`` acknowledged, ``amount`` AE/AR) from one scan
    of the message log; msg_held (``num`` held messages, ``den`` their minutes waited for
    the ACK) from the few the filter keeps; API calls; received requisitions."""
    m, a, r = interface_messages, api_calls, replenishment_documents
    hour = hour_floor(m.c.received_at)
    ahour = hour_floor(a.c.started_at)
    failed = or_(a.c.status_code >= 400, a.c.error_class != "", a.c.status_code.is_(None))
    rhour = hour_floor(r.c.received_at)
    cycle = seconds_between(r.c.received_at, r.c.created_at) / 3600.0
    return [
        select(literal("msg_status"), literal("hour"), hour, m.c.facility_id, literal(""),
               literal(""), m.c.channel, m.c.status, func.count(),
               _n(m.c.ack_code.is_not(None)), _n(m.c.ack_code.in_(("AE", "AR"))),
               ).where(in_ranges(m.c.received_at, ranges))
        .group_by(hour, m.c.facility_id, m.c.channel, m.c.status),
        select(literal("msg_held"), literal("hour"), hour, m.c.facility_id, literal(""),
               literal(""), m.c.channel, literal(""), func.count(),
               func.sum(ack_wait_s()) / 60.0, literal(0.0),
               ).where(in_ranges(m.c.received_at, ranges), held())
        .group_by(hour, m.c.facility_id, m.c.channel),
        select(literal("api_calls"), literal("hour"), ahour, literal(""), literal(""),
               literal(""), a.c.source, a.c.endpoint, func.count(), _n(failed),
               _n(a.c.status_code == 429),
               ).where(in_ranges(a.c.started_at, ranges))
        .group_by(ahour, a.c.source, a.c.endpoint),
        select(literal("replenishment"), literal("hour"), rhour, r.c.facility_id,
               r.c.location_id, literal(""), literal(""), literal(""), func.sum(cycle),
               func.count(), literal(0.0),
               ).where(r.c.received_at.is_not(None), in_ranges(r.c.received_at, ranges))
        .group_by(rhour, r.c.facility_id, r.c.location_id),
    ]


def _messages_from_status(conn: Connection, ranges: Ranges) -> None:
    """``messages`` rows (received, acknowledged, AE/AR) = sums of the status rows."""
    mp = metric_points
    dims = (mp.c.bucket, mp.c.facility_id, mp.c.channel)
    conn.execute(insert(mp).from_select(list(POINT_COLUMNS), select(
        literal("messages"), literal("hour"), mp.c.bucket, mp.c.facility_id, literal(""),
        literal(""), mp.c.channel, literal(""), func.sum(mp.c.num), func.sum(mp.c.den),
        func.sum(mp.c.amount),
    ).where(mp.c.metric == "msg_status", mp.c.grain == "hour",
            in_ranges(mp.c.bucket, ranges)).group_by(*dims)))


def day_ranges(ranges: Ranges) -> Ranges:
    """Widen hour ranges to whole UTC days."""
    if ranges is None:
        return None
    out = []
    for lo, hi in ranges:
        start = lo.replace(hour=0, minute=0, second=0, microsecond=0)
        end = hi.replace(hour=0, minute=0, second=0, microsecond=0)
        out.append((start, end if end == hi else end + timedelta(days=1)))
    return out


def feed_points(conn: Connection, ranges: Ranges) -> None:
    """Recompute message, API and replenishment points in the touched hours and days."""
    mp = metric_points
    feeds = mp.c.metric.in_(FEED_METRICS)
    conn.execute(delete(mp).where(feeds, mp.c.grain == "hour", in_ranges(mp.c.bucket, ranges)))
    for query in _feed_queries(ranges):
        conn.execute(insert(mp).from_select(list(POINT_COLUMNS), query))
    _messages_from_status(conn, ranges)
    _days_from_hours(conn, mp, POINT_COLUMNS[3:8], ("num", "den", "amount"), FEED_METRICS,
                     day_ranges(ranges))
