"""The ``collector_runs`` row of a pass (or of an MLLP listener's interval)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from core.model import RunStatus
from store.schema import collector_runs


def start_run(conn: Connection, run_id: str, source: str, collector_id: str,
              started_at: datetime) -> None:
    """Insert the run's row as ``running``, in the caller's transaction."""
    conn.execute(insert(collector_runs).values(
        run_id=run_id, source=source, collector_id=collector_id, started_at=started_at,
        status=RunStatus.RUNNING.value))


def finish_run(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    """Stamp the run's ``finished_at`` (now) and set ``values`` (status, counts, error)."""
    conn.execute(update(collector_runs).where(collector_runs.c.run_id == run_id)
                 .values(finished_at=datetime.now(UTC), **values))
