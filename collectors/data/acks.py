"""HL7 ACKs in the store: set on the messages they acknowledge, or kept in
``hl7_early_acks`` until the message comes (an ACK log read before its message log, an
MLLP tee that sent the ACK first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from collectors.hl7_records import LateAck, status_for_ack
from store.schema import hl7_early_acks, interface_messages
from store.upsert import dialect_insert


def _ack_values(ack_code: str, sent_at: Any, error: str) -> dict[str, Any]:
    return {"sent_at": sent_at, "ack_code": ack_code, "error": error,
            "status": status_for_ack(ack_code).value}


Candidate = tuple[str, str]  # (channel, facility_id) of a message with the ACK's control id


def ack_target(channel: str, facility_id: str, candidates: list[Candidate]
               ) -> Candidate | None:
    """The message an ACK names, among the messages with its control id: in its channel,
    the ACK's facility (MSH-6), else the only one of the channel; then, for an ACK read
    from a log of its own (another "channel"), the only one of any channel with that
    facility. Never one of two messages by guess (pure)."""
    if (channel, facility_id) in candidates:
        return channel, facility_id
    for pick in ([c for c in candidates if c[0] == channel],
                 [c for c in candidates if c[1] == facility_id]):
        if len(set(pick)) == 1:
            return pick[0]
    return None


def _candidates(conn: Connection, control_ids: list[str]) -> dict[str, list[Candidate]]:
    m = interface_messages
    out: dict[str, list[Candidate]] = {}
    for start in range(0, len(control_ids), 500):
        for row in conn.execute(select(m.c.control_id, m.c.channel, m.c.facility_id).where(
                m.c.control_id.in_(control_ids[start:start + 500]))):
            out.setdefault(row.control_id, []).append((row.channel, row.facility_id))
    return out


def _update_messages(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """One UPDATE per acknowledged message, sent as one batch (executemany)."""
    if not rows:
        return 0
    m = interface_messages
    stmt = update(m).where(m.c.channel == bindparam("k_channel"),
                           m.c.control_id == bindparam("k_control"),
                           m.c.facility_id == bindparam("k_facility")).values(
        sent_at=bindparam("v_sent_at"), ack_code=bindparam("v_ack_code"),
        error=bindparam("v_error"), status=bindparam("v_status"))
    conn.execute(stmt, rows)
    return len(rows)


def _update_row(target: Candidate, control_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"k_channel": target[0], "k_control": control_id, "k_facility": target[1],
            **{f"v_{k}": v for k, v in values.items()}}


def apply_late_acks(conn: Connection, channel: str, acks: list[LateAck], source: str) -> int:
    """Set sent time, ACK code and status on messages stored by an earlier read; an ACK
    whose message has not been read yet (an ACK log read before the message log) is kept
    in ``hl7_early_acks`` until it comes. Rows written (messages updated, ACKs kept);
    a few statements per chunk, not per ACK."""
    if not acks:
        return 0
    found = _candidates(conn, sorted({a.control_id for a in acks}))
    updates, kept = [], {}
    now = datetime.now(UTC)
    for ack in acks:
        target = ack_target(channel, ack.facility_id, found.get(ack.control_id, []))
        if target is not None:
            values = _ack_values(ack.ack_code, ack.sent_at, ack.error)
            updates.append(_update_row(target, ack.control_id, values))
        else:  # the last ACK of a key in the chunk wins, as a later read would
            kept[ack.facility_id, ack.control_id] = {
                "source": source, "facility_id": ack.facility_id, "control_id": ack.control_id,
                "channel": channel, "sent_at": ack.sent_at, "ack_code": ack.ack_code,
                "error": ack.error, "received_at": now}
    done = _update_messages(conn, updates)
    if kept:
        stmt = dialect_insert(conn, hl7_early_acks)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "facility_id", "control_id"],
            set_={k: stmt.excluded[k] for k in ("channel", "sent_at", "ack_code", "error",
                                                "received_at")}), list(kept.values()))
    return done + len(kept)


def apply_early_acks(conn: Connection, source: str, messages: list[dict[str, Any]]) -> int:
    """Apply the kept ACKs that name messages this chunk stored, and forget them. The
    messages were just written, so the update is not counted again."""
    e = hl7_early_acks
    in_chunk: dict[str, list[Candidate]] = {}
    for m in messages:
        in_chunk.setdefault(m["control_id"], []).append((m["channel"], m["facility_id"]))
    ids = sorted(in_chunk)
    updates, forget = [], []
    for start in range(0, len(ids), 500):
        for ack in conn.execute(select(e).where(
                e.c.source == source, e.c.control_id.in_(ids[start:start + 500]))):
            target = ack_target(ack.channel, ack.facility_id, in_chunk[ack.control_id])
            if target is None:
                continue
            values = _ack_values(ack.ack_code, ack.sent_at, ack.error)
            updates.append(_update_row(target, ack.control_id, values))
            forget.append({"k_facility": ack.facility_id, "k_control": ack.control_id})
    _update_messages(conn, updates)
    if forget:
        conn.execute(delete(e).where(e.c.source == source,
                                     e.c.facility_id == bindparam("k_facility"),
                                     e.c.control_id == bindparam("k_control")), forget)
    return 0
