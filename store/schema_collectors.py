"""Tables of the collectors beyond the foundation's: claim adjudication outcomes.

A ClaimResponse arrives on its own stream, before or after its Claim; keeping it in its
own table and joining it onto ``claims`` after each page means a later change to a
claim never wipes its outcome, whatever order the two arrive in.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from store.schema import Money, metadata
from store.types import UtcDateTime

claim_outcomes = Table(
    "claim_outcomes",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("claim_id", String(64), nullable=False),
    Column("outcome", String(32), nullable=False, server_default=""),
    Column("paid_amount", Money),
    Column("last_updated", UtcDateTime, nullable=False),
    Column("source", String(64), nullable=False, server_default=""),
    Index("ix_claim_outcomes_claim_id", "claim_id"),
)
