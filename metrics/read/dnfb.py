"""Discharged not final billed (HFMA MAP Keys "DNFB" and "DNFB days"): the gross $ of
encounters discharged more than the hold ago that no claim bills yet, and that $ over the
average daily gross revenue. A stock at ``now``, not a sum over the window.

Per facility, at its *claims horizon* ``H`` (``now``, or its newest claim created by then
when that is older: a claims feed that is behind must not read as unbilled work):

- DNFB encounters: discharged in ``[oldest, H - hold)``, where ``oldest`` is the earliest
  discharge of an encounter a claim (created by ``H``) bills — an encounter discharged
  before it may have been billed before the claims feed began, so it is not judged —
  with no claim created by ``H`` (draft, cancelled and entered-in-error claims bill
  nothing) and a gross $ above 0. A claim bills the encounter it names, or those of the
  charges its lines name (an 837 names charges, REF*6R, never an encounter);
- gross $ of an encounter: its surviving charges (posted, neither credits nor voided nor
  reversed, as the last pass saw them) posted by ``H``;
- average daily gross revenue: the charges and credits (not voided) posted in the 30 days
  before ``H``, or since the facility's first charge when that is later, per day.

Read from the pass's per-encounter billing inputs (``metric_encounter_billing``: discharge,
first billing claim, gross $ and postings, cut at ``H`` here) while they hold every claim,
claim line, charge and encounter stored (``metrics.read.answers.billing_current``): the
unbilled encounters are a range of its (facility, billed_at) index, whatever the store's
history. Otherwise from the canonical encounters, claims and charges (with the pass's
charge survival), a handful of index probes per facility.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    and_,
    exists,
    func,
    literal,
    select,
    true,
    union,
    union_all,
)

from core.metric_values import MetricValue
from metrics.read.answers import billing_current
from metrics.read.common import Read, chunks, per_transaction, value
from store.schema import charges, claim_lines, claims, encounters
from store.schema_metrics import (
    metric_billing_claims,
    metric_charge_facts,
    metric_encounter_billing,
)
from store.types import UtcDateTime

GROSS_DAYS = 30
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
NOT_BILLING = ("draft", "cancelled", "entered-in-error")
DNFB_FEEDS = ("claim", "charge", "encounter")


def billing_claims(fid: str, horizon: datetime) -> list[ColumnElement[bool]]:
    """Where-clauses of the facility's claims that bill (not draft, cancelled or entered in
    error) created by ``horizon``."""
    c = claims
    return [c.c.facility_id == fid, c.c.created_at <= horizon,
            c.c.status.not_in(NOT_BILLING)]


def horizons(conn: Connection, now: datetime) -> dict[str, datetime]:
    """Per facility with a billing claim created by ``now``: its claims horizon (once per
    transaction and ``now``: every revenue-cycle metric of a page asks). From the pass's
    billing claims (one probe of their (facility, created_at) index per facility) while
    they hold every claim stored; else by grouping the claims."""
    c = claims

    def read() -> dict[str, datetime]:
        if billing_current(conn):
            return _stored_horizons(conn, now)
        rows = conn.execute(select(c.c.facility_id, func.max(c.c.created_at)).where(
            c.c.created_at <= now, c.c.status.not_in(NOT_BILLING)).group_by(c.c.facility_id))
        return {fid: min(now, newest) for fid, newest in rows}

    return dict(per_transaction(conn, ("chargeline.claims_horizons", now), read))


def _stored_horizons(conn: Connection, now: datetime) -> dict[str, datetime]:
    """``horizons`` from ``metric_billing_claims``: its facilities one index step apart
    (a recursive walk: a handful of probes, not a scan of every claim), then each one's
    newest creation by ``now``."""
    t = metric_billing_claims

    def after(previous: ColumnElement[str] | None) -> ColumnElement[str]:
        nxt = select(t.c.facility_id)
        if previous is not None:
            nxt = nxt.where(t.c.facility_id > previous)
        return nxt.order_by(t.c.facility_id).limit(1).scalar_subquery()

    walk = select(after(None).label("facility_id")).cte("facilities", recursive=True)
    walk = walk.union_all(select(after(walk.c.facility_id)).where(
        walk.c.facility_id.is_not(None)))
    newest = select(t.c.created_at).where(
        t.c.facility_id == walk.c.facility_id, t.c.created_at <= now,
    ).order_by(t.c.created_at.desc()).limit(1).scalar_subquery()
    rows = conn.execute(select(walk.c.facility_id, newest).where(
        walk.c.facility_id.is_not(None)))
    return {fid: min(now, at) for fid, at in rows if at is not None}


def _line_branches(fid: str, horizon: datetime) -> list[Select]:
    """The two ways a billing claim's line names a charge, each a plain join (one index
    probe per line, where an OR in one join condition reads every charge): by its charge
    id, else (no charge id) by its line item control number."""
    c, cl, ch = claims, claim_lines, charges
    base = c.join(cl, cl.c.claim_id == c.c.claim_id)
    by_id = (base.join(ch, ch.c.charge_id == cl.c.charge_id), cl.c.charge_id != "")
    by_control = (base.join(ch, ch.c.charge_id == cl.c.line_control),
                  and_(cl.c.charge_id == "", cl.c.line_control != ""))
    return [select(c.c.claim_id.label("claim_id"), ch.c.encounter_id.label("encounter_id"))
            .select_from(joined).where(named, *billing_claims(fid, horizon))
            for joined, named in (by_id, by_control)]


def claim_encounters(fid: str, horizon: datetime, among: Select | None = None) -> Subquery:
    """(claim id, encounter id) of each encounter a billing claim of the facility created
    by ``horizon`` bills: named by the claim (FHIR Claim.encounter), or through a claim
    line's charge (its charge id, else its line item control number: an 837 names no
    encounter, only the charges, REF*6R). ``among``: only these encounters (a select of
    their ids), filtered inside each branch so no other claim is read."""
    c, ch = claims, charges
    by_claim = select(c.c.claim_id.label("claim_id"), c.c.encounter_id.label("encounter_id")
                      ).where(c.c.encounter_id != "", *billing_claims(fid, horizon),
                              *(() if among is None else (c.c.encounter_id.in_(among),)))
    by_line = [q.where(*(() if among is None else (ch.c.encounter_id.in_(among),)))
               for q in _line_branches(fid, horizon)]
    return union(by_claim, *by_line).subquery("claim_encounters")


def _billed_by_line(conn: Connection, fid: str, horizon: datetime,
                    encounter_ids: list[str]) -> set[str]:
    """Those of ``encounter_ids`` a billing claim's line bills (through a charge of
    theirs), read from their charges in IN lists: every probe starts from the few
    encounters asked about, never from the claim lines."""
    found: set[str] = set()
    for chunk in chunks(encounter_ids):
        for branch in _line_branches(fid, horizon):
            sub = branch.where(charges.c.encounter_id.in_(chunk)).subquery()
            found.update(conn.execute(select(sub.c.encounter_id)).scalars())
    return found


def judged_since(conn: Connection, fid: str, horizon: datetime) -> datetime | None:
    """The earliest discharge of an encounter a claim created by ``horizon`` bills: one
    discharged before it may have been billed before the claims feed began, so it is not
    judged (None: no claim bills any encounter yet). From the pass's billing inputs, the
    facility's discharges in order up to the first billed by ``horizon``; else the claims
    naming their encounter give a first answer with one join, and only the encounters
    discharged before it are then looked up among the claim lines (none, once the claims
    feed names encounters)."""
    if billing_current(conn):
        t = metric_encounter_billing
        return conn.execute(select(t.c.discharged_at).where(
            t.c.facility_id == fid, t.c.discharged_at.is_not(None),
            _unindexed(t.c.billed_at) <= horizon,
        ).order_by(t.c.discharged_at).limit(1)).scalar()
    c, e = claims, encounters
    named = conn.execute(select(func.min(e.c.ended_at)).select_from(
        c.join(e, e.c.encounter_id == c.c.encounter_id)).where(
        c.c.encounter_id != "", *billing_claims(fid, horizon))).scalar()
    earlier = conn.execute(select(e.c.encounter_id).where(
        *(() if named is None else (e.c.ended_at < named,)))).scalars().all()
    by_line = _billed_by_line(conn, fid, horizon, list(earlier))
    firsts = [named, *(conn.execute(select(func.min(e.c.ended_at)).where(
        e.c.encounter_id.in_(chunk))).scalar() for chunk in chunks(by_line))]
    found = [t for t in firsts if t is not None]
    return min(found) if found else None


def unbilled(conn: Connection, fid: str, horizon: datetime, hold: timedelta
             ) -> list[tuple[str, float]]:
    """(encounter id, gross $) of the facility's DNFB encounters at ``horizon``."""
    e, f = encounters, metric_charge_facts
    oldest = judged_since(conn, fid, horizon)
    if oldest is None:
        return []
    if billing_current(conn):
        return _stored_unbilled(conn, fid, horizon, hold, oldest)
    # no claim names the encounter (an index probe of one table), then none of its
    # charges is on a claim line (looked up for those few only)
    named = exists().where(claims.c.encounter_id == e.c.encounter_id,
                           *billing_claims(fid, horizon))
    gross = func.sum(f.c.amount)
    rows = conn.execute(select(e.c.encounter_id, gross).select_from(
        e.join(f, f.c.encounter_id == e.c.encounter_id)).where(
        e.c.facility_id == fid, e.c.ended_at >= oldest, e.c.ended_at < horizon - hold,
        ~named, f.c.surviving == true(), f.c.kind == "charge", f.c.posted_at <= horizon,
    ).group_by(e.c.encounter_id).having(gross > 0).order_by(e.c.encounter_id)).all()
    by_line = _billed_by_line(conn, fid, horizon, [r[0] for r in rows])
    return [(r[0], float(r[1])) for r in rows if r[0] not in by_line]


def _unindexed(column: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """``column`` (NULL read as the far future) in a form no index of it serves: the
    planner then walks the index meant (discharges in order to the first billed one; the
    unbilled encounters by billing time), not a range of the facility's whole history."""
    return func.coalesce(column, literal(FAR_FUTURE, UtcDateTime()))


def _stored_unbilled(conn: Connection, fid: str, horizon: datetime, hold: timedelta,
                     oldest: datetime) -> list[tuple[str, float]]:
    """``unbilled`` from the pass's billing inputs: the facility's encounters no billing
    claim billed by ``horizon`` (two ranges of the billed index: never, or later),
    discharged in ``[oldest, horizon - hold)``, with a surviving charge posted by then. An
    encounter charged again after ``horizon`` has its gross $ at ``horizon`` summed from its
    charge facts (a few: a read of the past, or a late charge)."""
    t, f = metric_encounter_billing, metric_charge_facts
    discharged = _unindexed(t.c.discharged_at)
    rows = conn.execute(union_all(*(
        select(t.c.encounter_id, t.c.gross_usd, t.c.last_posted_at).where(
            t.c.facility_id == fid, billed, discharged >= oldest,
            discharged < horizon - hold, t.c.first_posted_at <= horizon)
        for billed in (t.c.billed_at.is_(None), t.c.billed_at > horizon)))).all()
    gross = {r.encounter_id: float(r.gross_usd) for r in rows if r.last_posted_at <= horizon}
    later = [r.encounter_id for r in rows if r.last_posted_at > horizon]
    for chunk in chunks(later):
        gross.update((eid, float(usd)) for eid, usd in conn.execute(
            select(f.c.encounter_id, func.sum(f.c.amount)).where(
                f.c.encounter_id.in_(chunk), f.c.surviving == true(), f.c.kind == "charge",
                f.c.posted_at <= horizon).group_by(f.c.encounter_id)))
    return sorted((eid, usd) for eid, usd in gross.items() if usd > 0)


def gross_per_day(conn: Connection, fid: str, horizon: datetime) -> float:
    """Average daily gross revenue before ``horizon`` (see the module docstring)."""
    ch = charges
    first = conn.execute(select(func.min(ch.c.posted_at)).where(
        ch.c.facility_id == fid)).scalar_one_or_none()
    if first is None:
        return 0.0
    since = max(horizon - timedelta(days=GROSS_DAYS), first)
    if since >= horizon:
        return 0.0
    revenue = conn.execute(select(func.sum(ch.c.amount)).where(
        ch.c.facility_id == fid, ch.c.posted_at >= since, ch.c.posted_at < horizon,
        ch.c.status != "voided")).scalar_one_or_none()
    return float(revenue or 0) / ((horizon - since) / timedelta(days=1))


def read_dnfb(conn: Connection, read: Read) -> list[MetricValue]:
    """``dnfb_usd`` or ``dnfb_days`` per facility (``facility`` scope) or network-wide."""
    hold = timedelta(days=read.sla.dnfb_hold_days)
    per_fac: dict[str, tuple[float, int, float]] = {}
    for fid, horizon in sorted(horizons(conn, read.now).items()):
        held = unbilled(conn, fid, horizon, hold)
        per_day = gross_per_day(conn, fid, horizon) if read.metric == "dnfb_days" else 0.0
        per_fac[fid] = (sum(usd for _, usd in held), len(held), per_day)
    if not per_fac:
        return []
    groups = ({fid: [fid] for fid in per_fac} if "facility" in read.scope_keys
              else {"": list(per_fac)})
    out = []
    for key, fids in groups.items():
        usd = sum(per_fac[f][0] for f in fids)
        count = sum(per_fac[f][1] for f in fids)
        per_day = sum(per_fac[f][2] for f in fids)
        scope = {"facility": key} if key else {}
        if read.metric == "dnfb_usd":
            out.append(value(read, scope, usd, amount=usd, feeds=DNFB_FEEDS,
                             extra={"encounters": float(count)}))
        else:
            out.append(value(read, scope, usd / per_day if per_day else None, amount=usd,
                             numerator=usd, denominator=per_day, feeds=DNFB_FEEDS,
                             nodata=not per_day, extra={"encounters": float(count)}))
    return out


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "dnfb_usd": read_dnfb,
    "dnfb_days": read_dnfb,
}
