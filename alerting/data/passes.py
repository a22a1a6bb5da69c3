"""The evaluation log (``alert_evaluations``): one row per alerting pass, and the lock
that serialises passes across processes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update

from store.schema_alerting import alert_evaluations

# Any constant works; it only has to be the same in every process that evaluates.
_PG_LOCK_KEY = 0x43484C4E  # "CHLN"


def begin_pass(conn: Connection, at: datetime, started_at: datetime) -> int:
    """Serialise evaluation passes across processes and log this one; return its id.

    On PostgreSQL a transaction-scoped advisory lock; on SQLite the INSERT below takes the
    database write lock at once. Either way it is held until the caller's commit, so two
    collectors never plan the same digest twice.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    return int(conn.execute(insert(alert_evaluations).values(at=at, started_at=started_at)
                            .returning(alert_evaluations.c.id)).scalar_one())


def latest_pass_at(conn: Connection, before_id: int) -> datetime | None:
    """The evaluation time of the newest pass that stepped the alerts before ``before_id``."""
    c = alert_evaluations.c
    return conn.execute(select(func.max(c.at)).where(c.id < before_id, c.skipped == "")).scalar()


def finish_pass(conn: Connection, pass_id: int, **values: Any) -> None:
    """Write the figures of a pass into its log row."""
    conn.execute(update(alert_evaluations).where(alert_evaluations.c.id == pass_id)
                 .values(**values))


def recent_passes(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` passes, newest first, their rule errors decoded."""
    c = alert_evaluations.c
    rows = conn.execute(select(alert_evaluations).order_by(c.id.desc()).limit(limit))
    return [dict(r) | {"rule_errors": json.loads(r["rule_errors_json"])}
            for r in rows.mappings()]
