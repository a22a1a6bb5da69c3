"""Tables of the collectors beyond the foundation's.

``claim_outcomes``: a ClaimResponse arrives on its own stream, before or after its Claim;
keeping it in its own table and joining it onto ``claims`` after each page means a later
change to a claim never wipes its outcome, whatever order the two arrive in.

``collector_slots``: one row per (source, schedule slot) claimed by a collector process.
Its primary key is what makes "each source polled once per slot" hold across processes
(the lease in ``source_leases`` makes "never two at once" hold); it is also the audit of
who polled what when. Rows older than a week are pruned as new slots are claimed.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from store.schema import Money, metadata
from store.types import UtcDateTime

collector_slots = Table(
    "collector_slots",
    metadata,
    Column("source", String(64), primary_key=True),  # a source, or "job:<id>"
    Column("slot", UtcDateTime, primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("run_id", String(36), nullable=False, server_default=""),
    Column("claimed_at", UtcDateTime, nullable=False),
)

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
