"""Claims in the store: FHIR ClaimResponses (``claim_outcomes`` and the newest outcome
copied onto each claim), and 837 claim headers inserted only when new."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, or_, select, update

from collectors.fhir_records import ClaimOutcome
from core.model import CanonicalRecord
from store.schema import claims
from store.schema_collectors import claim_outcomes
from store.upsert import dialect_insert, insert_ignore, record_row


def apply_claim_outcomes(conn: Connection, outcomes: list[ClaimOutcome],
                         claim_ids: set[str], source: str) -> int:
    """Store ClaimResponses and copy the newest outcome of each touched claim onto it;
    return how many outcomes were new or changed."""
    written = 0
    if outcomes:
        rows = {o.response_id: {"response_id": o.response_id, "claim_id": o.claim_id,
                                "outcome": o.outcome, "paid_amount": o.paid_amount,
                                "last_updated": o.last_updated, "source": source}
                for o in outcomes}
        stmt = dialect_insert(conn, claim_outcomes).values(list(rows.values()))
        changing = ["claim_id", "outcome", "paid_amount", "last_updated", "source"]
        stmt = stmt.on_conflict_do_update(
            index_elements=["response_id"], set_={c: stmt.excluded[c] for c in changing},
            # an outcome read again unchanged (the overlap window) is not a write
            where=or_(*[claim_outcomes.c[c].is_distinct_from(stmt.excluded[c])
                        for c in changing]))
        written = len(conn.execute(stmt.returning(claim_outcomes.c.response_id)).all())
    ids = sorted(claim_ids | {o.claim_id for o in outcomes})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        newest = (select(claim_outcomes.c.claim_id, claim_outcomes.c.outcome,
                         claim_outcomes.c.paid_amount)
                  .where(claim_outcomes.c.claim_id.in_(chunk))
                  .order_by(claim_outcomes.c.claim_id, claim_outcomes.c.last_updated))
        latest = {row.claim_id: row for row in conn.execute(newest)}
        if latest:  # one statement run for every claim, not a statement each
            conn.execute(update(claims).where(claims.c.claim_id == bindparam("claim"))
                         .values(outcome=bindparam("new_outcome"),
                                 paid_amount=bindparam("new_paid")),
                         [{"claim": claim_id, "new_outcome": row.outcome,
                           "new_paid": row.paid_amount} for claim_id, row in latest.items()])
    return written


def insert_new_claims(conn: Connection, records: Sequence[CanonicalRecord], source: str
                      ) -> int:
    """Insert the claims (837 headers) the store does not hold yet; a claim already there
    (read from FHIR, with its encounter and outcome) is left as it is. How many were new."""
    now = datetime.now(UTC)
    return insert_ignore(conn, claims, [record_row(r, source, now) for r in records])
