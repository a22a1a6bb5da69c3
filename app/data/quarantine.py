"""Quarantined records for the admin page: listed without their raw payloads (they may
carry PHI), and one payload revealed only with a reason, written to the audit log.

Payloads are stored encrypted (``core.sealing``); the list shows each one's size
from the ciphertext's prefix, without a key, and only the reveal decrypts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from app.data.users import User, audit
from core.config import load_settings
from core.sealing import PayloadSealer, is_sealed, sealed_size, sealer_for
from store.schema import quarantined_records

MASK = "•••• hidden: may contain PHI"
MIN_REASON = 8


def masked_page(conn: Connection, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Newest quarantined records with the payload replaced by its size in bytes (of a
    row stored before encryption, its length in characters)."""
    q = quarantined_records.c
    rows = conn.execute(
        select(q.quarantine_id, q.source, q.record_kind, q.position, q.reason, q.status,
               q.quarantined_at, func.length(q.raw_payload).label("chars"),
               func.substr(q.raw_payload, 1, 32).label("head"))  # "fernet:<size>:..."
        .order_by(q.quarantine_id.desc()).limit(limit).offset(offset)
    ).mappings()
    out = []
    for r in rows:
        row = {k: v for k, v in r.items() if k not in ("chars", "head")}
        head = r["head"] or ""
        row["payload_bytes"] = sealed_size(head) if is_sealed(head) else r["chars"]
        out.append({**row, "raw_payload": MASK})
    return out


def count_quarantined(conn: Connection) -> int:
    """How many records are quarantined."""
    return int(conn.execute(select(func.count()).select_from(quarantined_records)).scalar_one())


def reveal_payload(conn: Connection, user: User, quarantine_id: int, reason: str,
                   sealer: PayloadSealer | None = None) -> str:
    """The raw payload as text (bytes that are not UTF-8 shown as ``\\xff``), for an
    admin who gave a reason; the reveal is audited first."""
    raw = reveal_raw(conn, user, quarantine_id, reason, sealer)
    return raw.decode("utf-8", "backslashreplace")


def reveal_raw(conn: Connection, user: User, quarantine_id: int, reason: str,
               sealer: PayloadSealer | None = None) -> bytes:
    """The raw payload's original bytes, decrypted with ``sealer`` (by default the
    configured keys'), for an admin who gave a reason; the reveal is audited first, in
    the caller's transaction (a payload no key opens raises ``SealError``, and the
    caller's rollback drops the audit row of a reveal that showed nothing)."""
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
    return (sealer or sealer_for(load_settings())).open(str(payload))
