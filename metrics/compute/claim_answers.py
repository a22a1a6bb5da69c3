"""Each claim's initial and latest remittance (``metric_claim_answers``), kept by the pass.

Per claim and the facility its remittances name, over its remittances that are not
reversals (CLP02 ``22``): the *initial* one, earliest by ``paid_at`` then id (its payer,
charge $, date and whether it denied the claim, ``metrics.read.denials.is_denial``), and
the *latest* one. Every remittance stored counts, whatever its ``paid_at``: a read as of
``now`` (``metrics.read.answers``) keeps a claim whose initial remittance was paid before
``now`` and ranks the remittances again only for the few claims whose latest one was paid
at or after it.

A full pass fills it from every remittance; an incremental pass redoes the claims with a
remittance or an adjustment ingested since its start (a late adjustment can turn a zero
payment into a denial). Retention keeps claims and remittances, so it deletes none of
these rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    case,
    delete,
    func,
    insert,
    select,
    union,
)

from metrics.compute.dbtune import analyze_scratch
from metrics.compute.pass_tables import pass_touched_claims
from metrics.read.denials import REVERSAL_STATUS, ranked_remittances
from store.schema import remittance_adjustments, remittances
from store.schema_metrics import metric_claim_answers
from store.sqlfn import in_rows

COLUMNS = ("claim_id", "facility_id", "payer_id", "remittance_id", "charge_amount", "paid_at",
           "denied", "last_remittance_id", "last_paid_at", "last_denied")


def _answers(claim_ids: Select | None) -> Select:
    """One row per (claim, facility) of these claims (a select of their ids; all when
    None), in ``COLUMNS``."""
    r = remittances
    where = [r.c.status_code != REVERSAL_STATUS]
    if claim_ids is not None:
        where.append(in_rows(r.c.claim_id, claim_ids))
    ranked = ranked_remittances(*where)
    k = ranked.c

    def at(rank: ColumnElement[int], col: ColumnElement) -> ColumnElement:
        return func.max(case((rank == 1, col)))  # the column of the first or last one

    return select(
        k.claim_id, k.facility_id, at(k.first_rank, k.payer_id), at(k.first_rank,
                                                                  k.remittance_id),
        at(k.first_rank, k.charge_amount), at(k.first_rank, k.paid_at),
        at(k.first_rank, k.denied), at(k.last_rank, k.remittance_id),
        at(k.last_rank, k.paid_at), at(k.last_rank, k.denied),
    ).group_by(k.claim_id, k.facility_id)


def _ingested_claims(since: datetime) -> Select:
    """Claims with a remittance or an adjustment ingested since ``since`` (index ranges)."""
    r, a = remittances, remittance_adjustments
    return union(select(r.c.claim_id).where(r.c.ingested_at > since),
                 select(a.c.claim_id).where(a.c.ingested_at > since))


def build_claim_answers(conn: Connection, since: datetime | None) -> int:
    """Rebuild every row (``since`` None: a full pass) or those of the claims ingested since
    ``since``; return how many claims were redone (-1 on a full pass)."""
    t = metric_claim_answers
    if since is None:
        conn.execute(delete(t))
        conn.execute(insert(t).from_select(list(COLUMNS), _answers(None)))
        return -1
    # one statement per step over the claims to redo, not IN lists sent from Python
    redo = pass_touched_claims
    conn.execute(delete(redo))
    conn.execute(insert(redo).from_select(["claim_id"], _ingested_claims(since)))
    analyze_scratch(conn, redo)
    claim_ids = select(redo.c.claim_id)
    conn.execute(delete(t).where(in_rows(t.c.claim_id, claim_ids)))
    conn.execute(insert(t).from_select(list(COLUMNS), _answers(claim_ids)))
    return int(conn.execute(select(func.count()).select_from(redo)).scalar_one())
