"""Widths of the store's columns that collectors check values against before a write
(pure: read from the schema, nothing is sent to the store)."""

from __future__ import annotations

from typing import Any

from store.bounds import check_values
from store.schema import hl7_early_acks, interface_messages
from store.schema_collectors import claim_outcomes

# a channel name longer than the column is cut and hashed (``plugins.hl7_log.channel_name``)
CHANNEL_WIDTH: int = interface_messages.c.channel.type.length or 64


def check_ack_values(values: dict[str, Any], where: str) -> None:
    """Raise ``RecordError`` when an ACK's values do not fit ``hl7_early_acks`` (or the
    message row they go into)."""
    check_values(values, hl7_early_acks, "ACK", where)


def check_claim_outcome_values(values: dict[str, Any], where: str) -> None:
    """Raise ``RecordError`` when a ClaimResponse's values do not fit ``claim_outcomes``."""
    check_values(values, claim_outcomes, "ClaimResponse", where)
