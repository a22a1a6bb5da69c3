"""The encounters each claim bills (``metric_claim_encounters``) and each encounter's billing
inputs (``metric_encounter_billing``), kept by the pass for DNFB and encounter
reconciliation (issue 23).

A claim bills the encounter it names (FHIR Claim.encounter) and those of the charges its
lines name (the line's charge id, else its line item control number): exactly
``metrics.read.dnfb.claim_encounters``, with the claim's facility, creation and whether it
bills (not draft, cancelled or entered in error), for every claim whatever its status.

Per encounter: its facility and discharge; ``billed_at``, the earliest creation of a
billing claim of its facility that bills it; the sum, first and last posting of its
surviving charges (the charge facts' ``surviving`` rows of kind ``charge``); whether a
chargeable scan expects a charge, and the scans with none posted (missing, unmapped or
pending) with their $ at the CDM price. Every input that moves with the claims horizon
``H`` is a time, not a verdict: the reads cut them at ``H``.

With them, each billing claim's facility and creation (``metric_billing_claims``: the
claims horizons, ``metrics.read.dnfb.horizons``).

A full pass fills all three; an incremental pass redoes the pairs (and the billing claims)
of the claims a claim, claim line or charge ingested since its start touches, then the
billing inputs of its dirty encounters (``metrics.compute.dirty``) and of every encounter
those claims billed before or bill now. Retention deletes the billing rows of the
encounters it ages out (claims stay, and so do their pairs and billing claims).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    true,
    union,
)

from metrics.compute.dbtune import analyze_scratch
from metrics.compute.pass_tables import pass_billing_encounters, pass_touched_claims
from metrics.read.dnfb import NOT_BILLING
from metrics.read.reconciliation import CHARGE_GAPS, EXPECTED
from store.schema import charges, claim_lines, claims, encounters
from store.schema_metrics import (
    metric_billing_claims,
    metric_charge_facts,
    metric_claim_encounters,
    metric_encounter_billing,
    metric_usage_facts,
)
from store.sqlfn import in_rows
from store.upsert import dialect_insert

PAIR_COLUMNS = ("claim_id", "encounter_id", "facility_id", "created_at", "billing")
COLUMNS = ("encounter_id", "facility_id", "discharged_at", "billed_at", "gross_usd",
           "first_posted_at", "last_posted_at", "expected", "charge_gaps", "charge_gap_usd")


def _pairs(claim_ids: Select | None) -> Select:
    """(claim, encounter, facility, creation, billing) of these claims (a select of their
    ids; all when None)."""
    c, cl, ch = claims, claim_lines, charges
    billing = case((c.c.status.in_(NOT_BILLING), False), else_=True)
    keep = () if claim_ids is None else (in_rows(c.c.claim_id, claim_ids),)
    by_name = select(c.c.claim_id, c.c.encounter_id, c.c.facility_id, c.c.created_at,
                     billing).where(c.c.encounter_id != "", *keep)
    lines = c.join(cl, cl.c.claim_id == c.c.claim_id)
    by_id = select(c.c.claim_id, ch.c.encounter_id, c.c.facility_id, c.c.created_at,
                   billing).select_from(lines.join(ch, ch.c.charge_id == cl.c.charge_id)
                                        ).where(cl.c.charge_id != "", *keep)
    by_control = select(c.c.claim_id, ch.c.encounter_id, c.c.facility_id, c.c.created_at,
                        billing).select_from(lines.join(ch, ch.c.charge_id == cl.c.line_control)
                                             ).where(cl.c.charge_id == "",
                                                     cl.c.line_control != "", *keep)
    return union(by_name, by_id, by_control)


def _billing_claims(claim_ids: Select | None) -> Select:
    """(claim, facility, creation) of these claims (a select of their ids; all when None)
    that bill."""
    c = claims
    keep = () if claim_ids is None else (in_rows(c.c.claim_id, claim_ids),)
    return select(c.c.claim_id, c.c.facility_id, c.c.created_at).where(
        c.c.status.not_in(NOT_BILLING), *keep)


def _rows(among: Select | None) -> Select:
    """The billing inputs of these encounters (a select of their ids; every one when
    None), in ``COLUMNS``."""
    e, f, u, p = encounters, metric_charge_facts, metric_usage_facts, metric_claim_encounters
    keep = (lambda col: ()) if among is None else (lambda col: (in_rows(col, among),))
    billed = select(p.c.encounter_id, func.min(p.c.created_at).label("billed_at")).select_from(
        p.join(e, and_(e.c.encounter_id == p.c.encounter_id,
                       e.c.facility_id == p.c.facility_id))).where(
        p.c.billing == true(), *keep(p.c.encounter_id)).group_by(p.c.encounter_id
                                                                  ).subquery("billed")
    gross = select(f.c.encounter_id, func.sum(f.c.amount).label("usd"),
                   func.min(f.c.posted_at).label("first"),
                   func.max(f.c.posted_at).label("last")).where(
        f.c.surviving == true(), f.c.kind == "charge", *keep(f.c.encounter_id),
    ).group_by(f.c.encounter_id).subquery("gross")
    gap = u.c.capture.in_(CHARGE_GAPS)
    scans = select(
        u.c.encounter_id, func.max(case((u.c.capture.in_(EXPECTED), 1), else_=0)).label("exp"),
        func.sum(case((gap, 1), else_=0)).label("gaps"),
        func.sum(case((gap, func.coalesce(u.c.base_qty * u.c.price, 0.0)), else_=0.0))
        .label("gap_usd"),
    ).where(u.c.chargeable == true(), *keep(u.c.encounter_id)).group_by(u.c.encounter_id
                                                                         ).subquery("scans")
    return select(
        e.c.encounter_id, e.c.facility_id, e.c.ended_at, billed.c.billed_at,
        func.coalesce(gross.c.usd, 0.0), gross.c.first, gross.c.last,
        func.coalesce(scans.c.exp, 0) == 1, func.coalesce(scans.c.gaps, 0),
        func.coalesce(scans.c.gap_usd, 0.0),
    ).select_from(e.outerjoin(billed, billed.c.encounter_id == e.c.encounter_id)
                  .outerjoin(gross, gross.c.encounter_id == e.c.encounter_id)
                  .outerjoin(scans, scans.c.encounter_id == e.c.encounter_id)
                  ).where(*keep(e.c.encounter_id))


def _touched_claims(since: datetime) -> Select:
    """Claims whose pairs a row ingested since ``since`` may change: the claim itself, a
    line of it, a charge one of its lines names (by id or control number)."""
    c, cl, ch = claims, claim_lines, charges
    new_charges = select(ch.c.charge_id).where(ch.c.ingested_at > since)
    return union(
        select(c.c.claim_id).where(c.c.ingested_at > since),
        select(cl.c.claim_id).where(cl.c.ingested_at > since),
        select(cl.c.claim_id).where(in_rows(cl.c.charge_id, new_charges)),
        select(cl.c.claim_id).where(in_rows(cl.c.line_control, new_charges)),
    )


def _note_encounters_of_touched(conn: Connection) -> None:
    """Add the encounters the touched claims bill to those redone."""
    p, b = metric_claim_encounters, pass_billing_encounters
    conn.execute(dialect_insert(conn, b).from_select(["encounter_id"], select(
        p.c.encounter_id).where(in_rows(p.c.claim_id, select(pass_touched_claims.c.claim_id)),
                                p.c.encounter_id != "").distinct().where(true())
    ).on_conflict_do_nothing())


def build_encounter_billing(conn: Connection, since: datetime | None,
                            dirty: Select | None = None) -> int:
    """Rebuild both tables (``since`` None: a full pass), or the pairs of the claims touched
    since ``since`` and the billing inputs of ``dirty`` (a select of encounter ids) and of
    the encounters those claims billed or bill; return how many encounters were redone (-1
    on a full pass)."""
    p, t = metric_claim_encounters, metric_encounter_billing
    bc, bc_columns = metric_billing_claims, ["claim_id", "facility_id", "created_at"]
    if since is None:
        conn.execute(delete(bc))
        conn.execute(insert(bc).from_select(bc_columns, _billing_claims(None)))
        conn.execute(delete(p))
        conn.execute(insert(p).from_select(list(PAIR_COLUMNS), _pairs(None)))
        conn.execute(delete(t))
        conn.execute(insert(t).from_select(list(COLUMNS), _rows(None)))
        return -1
    tc, b = pass_touched_claims, pass_billing_encounters
    conn.execute(delete(tc))
    conn.execute(delete(b))
    conn.execute(insert(tc).from_select(["claim_id"], _touched_claims(since)))
    analyze_scratch(conn, tc)
    touched = select(tc.c.claim_id)
    _note_encounters_of_touched(conn)  # those they billed ...
    conn.execute(delete(bc).where(in_rows(bc.c.claim_id, touched)))
    conn.execute(insert(bc).from_select(bc_columns, _billing_claims(touched)))
    conn.execute(delete(p).where(in_rows(p.c.claim_id, touched)))
    conn.execute(insert(p).from_select(list(PAIR_COLUMNS), _pairs(touched)))
    _note_encounters_of_touched(conn)  # ... and those they bill now
    if dirty is not None:
        d = dirty.subquery("dirty")
        encounter_id = next(iter(d.c))
        conn.execute(dialect_insert(conn, b).from_select(
            ["encounter_id"], select(encounter_id).where(encounter_id != ""))
            .on_conflict_do_nothing())
    analyze_scratch(conn, b)
    redone = select(b.c.encounter_id)
    conn.execute(delete(t).where(in_rows(t.c.encounter_id, redone)))
    conn.execute(insert(t).from_select(list(COLUMNS), _rows(redone)))
    return int(conn.execute(select(func.count()).select_from(b)).scalar_one())
