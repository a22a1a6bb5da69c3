"""The remittances behind the Revenue cycle page, in SQL: whether the store has any, and
which remittance rows are a claim's *initial denial* (the drill-down's "problems only" on
the ``remittances`` record set), so a denied-claims link opens exactly the claims the
denial metrics count (``metrics.read.denials``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, exists, or_, select

from metrics.read.denials import REVERSAL_STATUS, is_denial
from store.schema import remittances


def has_remittances(conn: Connection) -> bool:
    """Whether any remittance was ever stored (the page's empty state otherwise)."""
    return conn.execute(select(remittances.c.remittance_id).limit(1)).first() is not None


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

