"""The records behind the Revenue cycle page, in SQL: whether the store has remittances,
which remittance rows are a claim's *initial denial* (the drill-down's "problems only" on
the ``remittances`` record set), so a denied-claims link opens exactly the claims the
denial metrics count (``metrics.read.denials``), and the encounters discharged not final
billed (exactly those ``metrics.read.dnfb`` counts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from metrics.read.common import pct
from metrics.read.denials import REVERSAL_STATUS, is_denial
from metrics.read.dnfb import horizons, unbilled
from metrics.read.reconciliation import GAP_KINDS, gap_rows, reconcile
from store.schema import claims, encounters, remittances

DNFB_COLUMNS = ("facility_id", "encounter_id", "encounter_class", "procedure_code",
                "discharged_at", "days_unbilled", "gross_usd")
GAP_COLUMNS = ("facility_id", "encounter_id", "discharged_at", "patient_token", "usd",
               "days_outstanding")


def has_remittances(conn: Connection) -> bool:
    """Whether any remittance was ever stored (the page's empty state otherwise)."""
    return conn.execute(select(remittances.c.remittance_id).limit(1)).first() is not None


def payer_names(conn: Connection) -> dict[str, str]:
    """Payer id -> the name its remittances give (835 N1*PR N102; the newest wins when a
    payer renames itself), for payers that sent one."""
    # The payers by a skip scan of the (payer, paid_at) index (a recursive CTE, one probe
    # per payer), then each one's newest name walking that index back: index depth, not a
    # ranking of every remittance ever stored.
    r = remittances.c
    payer = select(func.min(r.payer_id).label("id")).cte("payer", recursive=True)
    after = select(func.min(r.payer_id)).where(r.payer_id > payer.c.id)
    payer = payer.union_all(select(after.scalar_subquery()).where(payer.c.id.is_not(None)))
    out = {}
    for pid in conn.execute(select(payer.c.id).where(payer.c.id.is_not(None))).scalars():
        name = conn.execute(select(r.payer_name).where(r.payer_id == pid, r.payer_name != "")
                            .order_by(r.paid_at.desc()).limit(1)).scalar()
        if name:
            out[pid] = name
    return out


def initial_denial() -> ColumnElement[bool]:
    """A remittance that is its claim's initial remittance (no earlier non-reversal one of
    the same facility and claim, ties by id) and denies it: one row per initially denied
    claim, dated by the ``paid_at`` the metrics window it by."""
    r = remittances.c
    e = remittances.alias("earlier").c
    earlier = exists().where(
        e.facility_id == r.facility_id, e.claim_id == r.claim_id,
        e.status_code != REVERSAL_STATUS,
        or_(e.paid_at < r.paid_at,
            and_(e.paid_at == r.paid_at, e.remittance_id < r.remittance_id)))
    return and_(r.status_code != REVERSAL_STATUS, is_denial(), ~earlier)



def has_claims(conn: Connection) -> bool:
    """Whether any claim was ever stored (DNFB needs a claims feed)."""
    return conn.execute(select(claims.c.claim_id).limit(1)).first() is not None


def dnfb_encounters(conn: Connection, now: datetime, hold: timedelta,
                    limit: int = 500) -> list[dict[str, Any]]:
    """The encounters discharged not final billed at ``now`` (``metrics.read.dnfb``'s
    definition, per facility at its claims horizon), largest gross $ first: facility,
    encounter, class, principal procedure, discharge, whole days since it and gross $."""
    e = encounters.c
    rows: list[dict[str, Any]] = []
    for fid, horizon in sorted(horizons(conn, now).items()):
        gross = dict(unbilled(conn, fid, horizon, hold))
        if not gross:
            continue
        for r in conn.execute(select(e.encounter_id, e.encounter_class, e.procedure_code,
                                     e.ended_at).where(e.encounter_id.in_(list(gross)))):
            rows.append({"facility_id": fid, "encounter_id": r.encounter_id,
                         "encounter_class": r.encounter_class,
                         "procedure_code": r.procedure_code, "discharged_at": r.ended_at,
                         "days_unbilled": (now - r.ended_at) // timedelta(days=1),
                         "gross_usd": round(gross[r.encounter_id], 2)})
    rows.sort(key=lambda r: (-r["gross_usd"], r["encounter_id"]))
    return rows[:limit]


def reconciliation(conn: Connection, now: datetime, window: timedelta, hold: timedelta,
                   remit: timedelta, limit: int = 500) -> dict[str, Any]:
    """Encounter reconciliation of the window's cohort, estate-wide (``metrics.read.
    reconciliation``, the figures ``encounter_reconciliation_pct`` reads): ``judged``,
    ``reconciled``, ``pct``, per gap kind (charge, claim, payment) ``<kind>_gap`` and
    ``<kind>_gap_usd`` (every such encounter) and ``<kind>``: its encounters, most days
    outstanding first — facility, encounter, discharge, patient token (never a clear
    identity), $ at stake, whole days outstanding — at most ``limit`` of them."""
    found = reconcile(conn, now, window, hold, remit)
    judged = sum(f.judged for f in found)
    reconciled = sum(f.reconciled for f in found)
    rate = pct(reconciled, judged)
    out: dict[str, Any] = {"judged": judged, "reconciled": reconciled,
                           "pct": None if rate is None else round(rate, 4)}
    for kind in GAP_KINDS:
        gaps = gap_rows(found, kind)
        out[f"{kind}_gap"] = len(gaps)
        out[f"{kind}_gap_usd"] = round(sum(g.usd for g in gaps), 2)
        out[kind] = [{"facility_id": g.facility_id, "encounter_id": g.encounter_id,
                      "discharged_at": g.discharged_at, "patient_token": g.patient_token,
                      "usd": g.usd, "days_outstanding": int(g.days_outstanding)}
                     for g in gaps[:limit]]
    return out
