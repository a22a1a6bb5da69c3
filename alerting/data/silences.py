"""Silences (``alert_silences``): matchers, a time span, who set them and why."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from alerting.policy import Matcher, Silence
from store.schema_alerting import alert_silences


def load_silences(conn: Connection, now: datetime) -> list[Silence]:
    """Silences not yet expired at ``now`` (including those that start later)."""
    rows = conn.execute(select(alert_silences).where(alert_silences.c.ends_at > now)
                        .order_by(alert_silences.c.id)).mappings()
    return [Silence(r["id"], tuple(Matcher.parse(m) for m in json.loads(r["matchers_json"])),
                    r["starts_at"], r["ends_at"], r["author"], r["comment"]) for r in rows]


def insert_silence(conn: Connection, matchers: list[str], starts_at: datetime,
                   ends_at: datetime, author: str, comment: str, created_at: datetime) -> int:
    """Store one silence; return its id."""
    return int(conn.execute(insert(alert_silences).values(
        matchers_json=json.dumps(matchers), starts_at=starts_at, ends_at=ends_at,
        author=author, comment=comment, created_at=created_at)
        .returning(alert_silences.c.id)).scalar_one())


def silence_rows(conn: Connection, active_at: datetime | None) -> list[dict[str, Any]]:
    """Silences as rows by id: all of them, or those not yet expired at ``active_at``."""
    query = select(alert_silences).order_by(alert_silences.c.id)
    if active_at is not None:
        query = query.where(alert_silences.c.ends_at > active_at)
    return [dict(r) for r in conn.execute(query).mappings()]


def end_silence(conn: Connection, silence_id: int, at: datetime, actor: str) -> bool:
    """End an active silence at ``at``, noting who; False when none is active by that id."""
    c = alert_silences.c
    done = conn.execute(update(alert_silences).where(c.id == silence_id, c.ends_at > at)
                        .values(ends_at=at, expired_by=actor))
    return done.rowcount == 1
