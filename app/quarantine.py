"""Quarantined records for the admin page: listed without their raw payloads (they may
carry PHI), and one payload revealed only with a reason, written to the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from app.users import User, audit
from store.schema import quarantined_records

MASK = "•••• hidden: may contain PHI"
MIN_REASON = 8


def masked_page(conn: Connection, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Newest quarantined records with the payload replaced by its length."""
    q = quarantined_records.c
    rows = conn.execute(
        select(q.quarantine_id, q.source, q.record_kind, q.position, q.reason, q.status,
               q.quarantined_at, func.length(q.raw_payload).label("payload_chars"))
        .order_by(q.quarantine_id.desc()).limit(limit).offset(offset)
    ).mappings()
    return [{**r, "raw_payload": MASK} for r in rows]


def count_quarantined(conn: Connection) -> int:
    """How many records are quarantined."""
    return int(conn.execute(select(func.count()).select_from(quarantined_records)).scalar_one())


def reveal_payload(conn: Connection, user: User, quarantine_id: int, reason: str) -> str:
    """The raw payload, for an admin who gave a reason; the reveal is audited first."""
    if not user.has("admin"):
        raise PermissionError("only the admin role may reveal quarantined payloads")
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise ValueError(f"give a reason of at least {MIN_REASON} characters "
                         "(e.g. the ticket you are working)")
    payload = conn.execute(
        select(quarantined_records.c.raw_payload)
        .where(quarantined_records.c.quarantine_id == quarantine_id)
    ).scalar_one_or_none()
    if payload is None:
        raise LookupError(f"no quarantined record {quarantine_id}")
    audit(conn, user.email, "reveal_phi", target=f"quarantined_records/{quarantine_id}",
          reason=reason)
    return str(payload)
