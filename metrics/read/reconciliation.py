"""Encounter reconciliation: the share of discharged encounters whose every expected charge
is posted, claimed and paid, and the gaps in between (Encounter -> Charge, Charge -> Claim,
Claim -> Payment), as the revenue-integrity lead works them.

Per facility, at its claims horizon ``H`` (``metrics.read.dnfb.horizons``), with the hold
``sla.dnfb_hold_days`` and the payer-response allowance ``sla.remit_days``:

- *judged* encounters: discharged in ``[H - hold - window, H - hold)`` — the window of a
  read, moved back by the hold so every judged encounter is past it — and not before the
  earliest discharge a claim bills (``dnfb.judged_since``: older encounters may have been
  billed before the claims feed began), with something to reconcile: a chargeable scan
  (capture on_time, late, missing, unmapped or pending) or a surviving charge posted by
  ``H``;
- *charge gap*: a chargeable scan of the encounter whose capture is missing, unmapped or
  pending (no posted charge); $ = its base quantity x price (leakage or failed-mapping $);
  open since the discharge;
- *claim gap*: a surviving charge posted by ``H``, not a duplicate's extra (the
  duplicates queue credits those), that no billing claim created by ``H`` bills: not
  named by a claim line (its charge id, else its line item control number), not stitched
  to one by the fallback of ``metrics.read.claims``, and not covered by a
  claim of the encounter that came without lines created after the charge posted; $ = the
  charges' amounts; open since the earliest such charge posted;
- *payment gap*: a billing claim of the encounter (created by ``H``, total above 0) whose
  latest remittance that is not a reversal, paid before ``now``, denies it (an open
  denial, ``metrics.read.denials.is_denial``; open since that remittance's ``paid_at``), or
  that has no remittance and was created more than ``remit_days`` before ``H`` (open since
  its creation); $ = the claims' totals;
- *reconciled*: judged with none of the three gaps.

While the pass's tables hold every row stored (``metrics.read.answers``), the judged
encounters and their charge gaps come from ``metric_encounter_billing`` (a range of the
facility's discharges, cut at ``H``), the claims each bills from ``metric_claim_encounters``
and their answers from ``metric_claim_answers``; the claim gaps, and everything when those
tables lag, are read from the canonical tables and the facts: a few statements per facility
over the judged encounters, and the claim-line fallback in Python for the few charges no
key reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    or_,
    select,
    true,
)

from core.metric_values import MetricValue
from metrics.read.answers import answers_current, billing_current
from metrics.read.claims import link_claim_lines, read_claim_lines
from metrics.read.common import Read, chunks, pct, value
from metrics.read.denials import REVERSAL_STATUS, is_denial
from metrics.read.dnfb import billing_claims, claim_encounters, horizons, judged_since
from store.schema import charges, claim_lines, claims, encounters, remittances
from store.schema_metrics import (
    metric_charge_facts,
    metric_claim_answers,
    metric_claim_encounters,
    metric_duplicates,
    metric_encounter_billing,
    metric_usage_facts,
)
from store.sqlfn import in_rows

GAP_KINDS = ("charge", "claim", "payment")
CHARGE_GAPS = ("missing", "unmapped", "pending")
EXPECTED = ("on_time", "late", *CHARGE_GAPS)
RECON_FEEDS = ("usage_event", "charge", "claim", "encounter", "remittance")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Gap:
    """One encounter's gap of one kind: its $ at stake and since when it is open."""

    kind: str  # charge | claim | payment
    facility_id: str
    encounter_id: str
    patient_token: str
    discharged_at: datetime
    usd: float
    opened_at: datetime
    horizon: datetime

    @property
    def days_outstanding(self) -> float:
        """Days from when the gap opened to the facility's claims horizon (never below 0:
        a denial paid after the horizon is open since then)."""
        return max(0.0, (self.horizon - self.opened_at) / DAY)


@dataclass(frozen=True)
class FacilityReconciliation:
    """A facility's judged encounters and their gaps (one ``Gap`` per encounter and kind)."""

    facility_id: str
    horizon: datetime
    judged: int
    gaps: dict[str, list[Gap]] = field(default_factory=dict)

    @property
    def reconciled(self) -> int:
        return self.judged - len({g.encounter_id for kind in self.gaps.values() for g in kind})


def _judged(fid: str, horizon: datetime, since: datetime, hold: timedelta) -> Select:
    """The judged encounters (see the module docstring): id, patient token, discharge."""
    e, u, f = encounters, metric_usage_facts, metric_charge_facts
    expected = exists().where(u.c.encounter_id == e.c.encounter_id, u.c.chargeable == true(),
                              u.c.capture.in_(EXPECTED))
    charged = exists().where(f.c.encounter_id == e.c.encounter_id, f.c.surviving == true(),
                             f.c.kind == "charge", f.c.posted_at <= horizon)
    return select(e.c.encounter_id, e.c.patient_token, e.c.ended_at).where(
        e.c.facility_id == fid, e.c.ended_at >= since, e.c.ended_at < horizon - hold,
        or_(expected, charged))


def _stored_cohort(conn: Connection, fid: str, horizon: datetime, since: datetime,
                   hold: timedelta) -> tuple[int, dict[str, tuple[float, None]], Select]:
    """The judged encounters from the pass's billing inputs (a range of the facility's
    discharges; charged by ``horizon`` is a first posting by then): how many, their charge
    gaps and a select of their ids for the other gaps (``_gap_encounters`` then reads the
    few with a gap). A month's cohort is counted in SQL, not sent back row by row."""
    t = metric_encounter_billing
    where = [t.c.facility_id == fid, t.c.discharged_at >= since,
             t.c.discharged_at < horizon - hold,
             or_(t.c.expected == true(), t.c.first_posted_at <= horizon)]
    judged = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    gaps = {r.encounter_id: (float(r.charge_gap_usd), None) for r in conn.execute(
        select(t.c.encounter_id, t.c.charge_gap_usd).where(*where, t.c.charge_gaps > 0))}
    return int(judged), gaps, select(t.c.encounter_id).where(*where)


def _gap_encounters(conn: Connection, encounter_ids: Iterable[str]) -> dict[str, Any]:
    """Patient token and discharge of these encounters (primary-key probes; one gone since
    its gap was read is left out)."""
    e = encounters
    who: dict[str, Any] = {}
    for chunk in chunks(encounter_ids):
        who.update((r.encounter_id, r) for r in conn.execute(
            select(e.c.encounter_id, e.c.patient_token, e.c.ended_at).where(
                e.c.encounter_id.in_(chunk))))
    return who


def _charge_gaps(conn: Connection, ids: Select) -> dict[str, tuple[float, None]]:
    """Encounter -> $ of its chargeable scans without a posted charge."""
    u = metric_usage_facts
    rows = conn.execute(select(u.c.encounter_id, func.sum(func.coalesce(
        u.c.base_qty * u.c.price, 0.0))).where(
        u.c.encounter_id.in_(ids), u.c.chargeable == true(), u.c.capture.in_(CHARGE_GAPS))
        .group_by(u.c.encounter_id))
    return {r[0]: (float(r[1] or 0.0), None) for r in rows}


def _named_by_a_line(fid: str, horizon: datetime) -> ColumnElement[bool]:
    """A charge fact some billing claim's line names: by its charge id, else (when the
    line's charge id names no charge) by its line item control number."""
    f, cl, c, ch = metric_charge_facts, claim_lines, claims, charges
    billing = [c.c.claim_id == cl.c.claim_id, *billing_claims(fid, horizon)]
    by_id = exists().where(cl.c.charge_id == f.c.charge_id, *billing)
    by_control = exists().where(
        cl.c.line_control == f.c.charge_id, *billing,
        or_(cl.c.charge_id == "", ~exists().where(ch.c.charge_id == cl.c.charge_id)))
    return or_(by_id, by_control)


def _covered_without_lines(fid: str, horizon: datetime) -> ColumnElement[bool]:
    """A charge fact a lineless billing claim of its encounter covers (created after the
    charge posted): a source that sends claims without lines bills the encounter whole."""
    f, c, cl = metric_charge_facts, claims, claim_lines
    return exists().where(c.c.encounter_id == f.c.encounter_id,
                          c.c.created_at >= f.c.posted_at, *billing_claims(fid, horizon),
                          ~exists().where(cl.c.claim_id == c.c.claim_id))


def _fallback_billed(conn: Connection, fid: str, horizon: datetime,
                     encounter_ids: Iterable[str]) -> set[str]:
    """Charges of these encounters a billing claim's line bills by the claim-line fallback
    (same HCPCS or revenue code, service date and units: ``metrics.read.claims``)."""
    c = claims
    claim_ids: list[str] = []
    for chunk in chunks(encounter_ids):
        claim_ids += conn.execute(select(c.c.claim_id).where(
            c.c.encounter_id.in_(chunk), *billing_claims(fid, horizon))).scalars()
    if not claim_ids:
        return set()
    links = link_claim_lines(conn, read_claim_lines(conn, claim_ids))
    return {link.charge_id for link in links.values()}


def _claim_gaps(conn: Connection, fid: str, horizon: datetime, ids: Select
                ) -> dict[str, tuple[float, datetime]]:
    """Encounter -> ($, earliest posting) of its surviving charges, duplicates' extras
    aside, that no billing claim bills."""
    f = metric_charge_facts
    # A duplicate's extra is owed to nobody: the duplicates queue credits it, and a
    # billing system that left it off the claim did right (one that billed it overbilled).
    extra = exists().where(metric_duplicates.c.charge_id == f.c.charge_id)
    rows = conn.execute(select(f.c.charge_id, f.c.encounter_id, f.c.amount, f.c.posted_at)
                        .where(f.c.encounter_id.in_(ids), f.c.surviving == true(),
                               f.c.kind == "charge", f.c.posted_at <= horizon, ~extra,
                               ~_named_by_a_line(fid, horizon),
                               ~_covered_without_lines(fid, horizon))).all()
    if not rows:
        return {}
    billed = _fallback_billed(conn, fid, horizon, {r.encounter_id for r in rows})
    out: dict[str, tuple[float, datetime]] = {}
    for r in rows:
        if r.charge_id in billed:
            continue
        usd, opened = out.get(r.encounter_id, (0.0, r.posted_at))
        out[r.encounter_id] = (usd + float(r.amount), min(opened, r.posted_at))
    return out


def _latest_answers(claim_ids: Select | list[str], now: datetime) -> Subquery:
    """(claim_id, paid_at, denied 0/1) of each of these claims' latest remittance paid
    before ``now`` that is not a reversal (the payer's answer as it stands)."""
    r = remittances
    ranked = select(
        r.c.claim_id, r.c.paid_at, case((is_denial(), 1), else_=0).label("denied"),
        func.row_number().over(partition_by=r.c.claim_id,
                               order_by=(r.c.paid_at.desc(), r.c.remittance_id.desc()))
        .label("rn"),
    ).where(r.c.status_code != REVERSAL_STATUS, r.c.paid_at < now,
            r.c.claim_id.in_(claim_ids)).subquery("ranked")
    return select(ranked.c.claim_id, ranked.c.paid_at, ranked.c.denied).where(
        ranked.c.rn == 1).subquery("latest")


def _stored_payment_gaps(conn: Connection, fid: str, horizon: datetime, now: datetime,
                         remit: timedelta, ids: Select) -> dict[str, tuple[float, datetime]]:
    """``_payment_gaps`` from the pass's claim answers: the cohort's billing claims with
    their answer rows (one per facility the remittances name; a primary-key probe each),
    the latest answer taken here; the few claims answered again at or after ``now`` have
    their answer as of ``now`` ranked from their remittances (``_latest_answers``)."""
    c, t, p = claims, metric_claim_answers, metric_claim_encounters
    # in_rows: PostgreSQL probes the pairs by encounter from the cohort's ids, where with
    # IN it read every pair of the store and probed the cohort for each
    pairs = (select(p.c.claim_id, p.c.encounter_id).where(
        in_rows(p.c.encounter_id, ids), p.c.facility_id == fid, p.c.billing == true(),
        p.c.created_at <= horizon).subquery("claim_encounters")
        if billing_current(conn) else claim_encounters(fid, horizon, among=ids))
    # Only a claim with an answer row that denies, is missing, or was paid at or after
    # ``now`` can be a gap: the others' latest answer pays them. Their rows stay in SQL,
    # so a month's cohort sends back its few gaps, not every claim with its dates.
    maybe = or_(t.c.last_paid_at.is_(None), t.c.last_denied == 1, t.c.last_paid_at >= now)
    answered = select(
        pairs.c.encounter_id, pairs.c.claim_id, cast(c.c.total, Float).label("total"),
        c.c.created_at, t.c.last_paid_at, t.c.last_remittance_id, t.c.last_denied,
        func.max(case((maybe, 1), else_=0)).over(partition_by=pairs.c.claim_id)
        .label("maybe"),
    ).select_from(pairs.join(c, c.c.claim_id == pairs.c.claim_id)
                  .outerjoin(t, t.c.claim_id == pairs.c.claim_id)).where(c.c.total > 0
                                                                         ).subquery("answered")
    rows = conn.execute(select(*(answered.c[k] for k in (
        "encounter_id", "claim_id", "total", "created_at", "last_paid_at",
        "last_remittance_id", "last_denied"))).where(answered.c.maybe == 1)).all()
    latest: dict[str, tuple[datetime, str, int]] = {}
    again: set[str] = set()
    for r in rows:
        if r.last_paid_at is None:
            continue
        if r.last_paid_at >= now:
            again.add(r.claim_id)
        elif r.claim_id not in latest or (r.last_paid_at, r.last_remittance_id) > latest[
                r.claim_id][:2]:
            latest[r.claim_id] = (r.last_paid_at, r.last_remittance_id, r.last_denied)
    answers = {k: (v[0], v[2]) for k, v in latest.items() if k not in again}
    for chunk in chunks(again):
        sub = _latest_answers(chunk, now)  # a list: an index probe per claim
        answers.update((r.claim_id, (r.paid_at, r.denied)) for r in conn.execute(select(sub)))
    out: dict[str, tuple[float, datetime]] = {}
    seen: set[tuple[str, str]] = set()
    for r in rows:
        if (r.encounter_id, r.claim_id) in seen:  # one row per answer's facility
            continue
        seen.add((r.encounter_id, r.claim_id))
        paid_at, denied = answers.get(r.claim_id, (None, 0))
        if denied == 1:
            opened = paid_at
        elif paid_at is None and r.created_at < horizon - remit:
            opened = r.created_at
        else:
            continue
        usd, first = out.get(r.encounter_id, (0.0, opened))
        out[r.encounter_id] = (usd + float(r.total), min(first, opened))
    return out


def _payment_gaps(conn: Connection, fid: str, horizon: datetime, now: datetime,
                  remit: timedelta, ids: Select) -> dict[str, tuple[float, datetime]]:
    """Encounter -> ($, earliest opening) of its billing claims with an open denial, or
    without a remittance past the payer-response allowance. From the pass's claim answers
    when they hold every remittance (``metrics.read.answers``); else one statement
    returning the gaps only (not every claim of the cohort with its answer)."""
    if answers_current(conn):
        return _stored_payment_gaps(conn, fid, horizon, now, remit, ids)
    c = claims
    pairs = claim_encounters(fid, horizon, among=ids)
    latest = _latest_answers(select(pairs.c.claim_id), now)
    rows = conn.execute(select(pairs.c.encounter_id, cast(c.c.total, Float).label("total"),
                               c.c.created_at, latest.c.paid_at, latest.c.denied)
                        .select_from(pairs.join(c, c.c.claim_id == pairs.c.claim_id)
                                     .outerjoin(latest, latest.c.claim_id == pairs.c.claim_id))
                        .where(c.c.total > 0, or_(
                            latest.c.denied == 1,  # an open denial
                            and_(latest.c.claim_id.is_(None),  # not answered in time
                                 c.c.created_at < horizon - remit)))).all()
    out: dict[str, tuple[float, datetime]] = {}
    for row in rows:
        opened = row.paid_at if row.denied == 1 else row.created_at
        usd, first = out.get(row.encounter_id, (0.0, opened))
        out[row.encounter_id] = (usd + float(row.total), min(first, opened))
    return out


def _since(conn: Connection, fid: str, horizon: datetime, cutoff: datetime
           ) -> datetime | None:
    """The cohort's first discharge: ``cutoff``, or the earliest claimed discharge when that
    is later (``dnfb.judged_since``; None: no claim bills anything yet). A claim naming an
    encounter of the facility discharged before ``cutoff`` settles it at once, without
    reading every claim line (0.8 s per facility at 250k usage events)."""
    if billing_current(conn):  # the pass's billing inputs: one probe of its index
        oldest = judged_since(conn, fid, horizon)
        return None if oldest is None else max(oldest, cutoff)
    e, c = encounters, claims
    before = select(e.c.encounter_id).where(e.c.facility_id == fid, e.c.ended_at < cutoff)
    if conn.execute(select(exists().where(c.c.encounter_id.in_(before),
                                          *billing_claims(fid, horizon)))).scalar():
        return cutoff
    oldest = judged_since(conn, fid, horizon)
    return None if oldest is None else max(oldest, cutoff)


def reconcile_facility(conn: Connection, fid: str, horizon: datetime, now: datetime,
                       window: timedelta, hold: timedelta, remit: timedelta
                       ) -> FacilityReconciliation:
    """The facility's judged encounters of the window and their gaps at ``horizon``."""
    since = _since(conn, fid, horizon, horizon - hold - window)
    if since is None:
        return FacilityReconciliation(fid, horizon, 0, {k: [] for k in GAP_KINDS})
    stored = billing_current(conn)
    if stored:
        judged, charge_gaps, ids = _stored_cohort(conn, fid, horizon, since, hold)
    else:
        cohort = _judged(fid, horizon, since, hold)
        who = {row.encounter_id: row for row in conn.execute(cohort)}
        judged, ids = len(who), cohort.with_only_columns(encounters.c.encounter_id)
        charge_gaps = _charge_gaps(conn, ids)
    found = {"charge": charge_gaps,
             "claim": _claim_gaps(conn, fid, horizon, ids),
             "payment": _payment_gaps(conn, fid, horizon, now, remit, ids)}
    if stored:
        who = _gap_encounters(conn, {eid for kind in found.values() for eid in kind})
    gaps: dict[str, list[Gap]] = {}
    for kind, per_encounter in found.items():
        rows = []
        for eid, (usd, opened) in per_encounter.items():
            enc = who.get(eid)
            if enc is None:  # raced a write between the statements: judged next time
                continue
            rows.append(Gap(kind, fid, eid, enc.patient_token, enc.ended_at, round(usd, 2),
                            opened or enc.ended_at, horizon))
        gaps[kind] = sorted(rows, key=lambda g: (g.opened_at, g.encounter_id))
    return FacilityReconciliation(fid, horizon, judged, gaps)


def reconcile(conn: Connection, now: datetime, window: timedelta, hold: timedelta,
              remit: timedelta, facility: str = "") -> list[FacilityReconciliation]:
    """Every facility with a billing claim (or just ``facility``), by facility id."""
    return [reconcile_facility(conn, fid, horizon, now, window, hold, remit)
            for fid, horizon in sorted(horizons(conn, now).items())
            if not facility or fid == facility]


def read_reconciliation(conn: Connection, read: Read) -> list[MetricValue]:
    """``encounter_reconciliation_pct`` per facility (``facility`` scope) or network-wide:
    reconciled / judged x 100; detail the encounters with each gap and its $."""
    if any(k != "facility" for k in read.scope_keys):
        bad = next(k for k in read.scope_keys if k != "facility")
        raise ValueError(f"metric {read.metric} cannot be split by {bad!r}; use facility")
    found = reconcile(conn, read.now, read.window, timedelta(days=read.sla.dnfb_hold_days),
                      timedelta(days=read.sla.remit_days))
    if not found:
        return []
    groups = ({f.facility_id: [f] for f in found} if read.scope_keys
              else {"": found})
    out = []
    for key, facs in groups.items():
        judged = sum(f.judged for f in facs)
        reconciled = sum(f.reconciled for f in facs)
        extra: dict[str, float] = {}
        for kind in GAP_KINDS:
            rows = [g for f in facs for g in f.gaps.get(kind, [])]
            extra[f"{kind}_gap"] = float(len(rows))
            extra[f"{kind}_gap_usd"] = round(sum(g.usd for g in rows), 2)
        out.append(value(read, {"facility": key} if key else {}, pct(reconciled, judged),
                         numerator=reconciled, denominator=judged, feeds=RECON_FEEDS,
                         nodata=not judged, extra=extra))
    return out


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "encounter_reconciliation_pct": read_reconciliation,
}


def gap_rows(found: Iterable[FacilityReconciliation], kind: str) -> list[Gap]:
    """The gaps of one kind, oldest first (most days outstanding first), then by id."""
    rows = [g for f in found for g in f.gaps.get(kind, [])]
    return sorted(rows, key=lambda g: (-g.days_outstanding, g.facility_id, g.encounter_id))
