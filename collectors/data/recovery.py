"""What a collector that died (SIGKILL, a crash, a power cut) left behind, and how the
next one clears it.

A pass's run row says ``running`` until the pass ends, its slot row says the slot was
claimed, and its source lease stays held until ``lease_seconds`` pass. On PostgreSQL
another collector may still be alive, so the lease expiring is the only safe signal.
On SQLite the lock file (``collectors.data.leases.SingleCollectorLock``) makes the process
that holds it the only collector there is: whatever another holder left is a dead
process's, so ``take_over`` clears it at start and the first passes run at once instead
of waiting out the dead leases ("slot taken by another collector" for two minutes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, select, update

from core.model import RunStatus
from store.schema import collector_runs, source_leases
from store.schema_collectors import collector_slots

log = logging.getLogger("chargeline.collectors")

INTERRUPTED = "Interrupted"
INTERRUPTED_ERROR = ("the pass stopped mid-way (process killed or crashed); the next pass "
                     "resumed after its last committed page")


def close_interrupted_runs(conn: Connection, now: datetime, source: str | None = None) -> int:
    """Mark runs left ``running`` (of one source, or all) as interrupted errors."""
    c = collector_runs.c
    where = [c.status == RunStatus.RUNNING.value]
    if source is not None:
        where.append(c.source == source)
    result = conn.execute(update(collector_runs).where(*where).values(
        status=RunStatus.ERROR.value, finished_at=now, error_class=INTERRUPTED,
        error=INTERRUPTED_ERROR))
    return result.rowcount or 0


@dataclass(frozen=True)
class TakeOver:
    """What a start-up found of a dead collector."""

    leases: int = 0  # leases it still held, now expired
    runs: int = 0  # its runs left running, now closed as interrupted
    slots: int = 0  # slots its interrupted runs had claimed, free to poll again

    def __bool__(self) -> bool:
        return bool(self.leases or self.runs or self.slots)


def take_over(engine: Engine, now: datetime | None = None) -> TakeOver:
    """Clear a dead collector's leases, running runs and their slots. Only for the sole
    collector of a store (the SQLite lock file's holder): on a shared store it would
    take sources from live collectors."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        running = select(collector_runs.c.run_id).where(
            collector_runs.c.status == RunStatus.RUNNING.value).scalar_subquery()
        slots = conn.execute(delete(collector_slots).where(
            collector_slots.c.run_id.in_(running))).rowcount or 0
        runs = close_interrupted_runs(conn, now)
        leases = conn.execute(update(source_leases).where(source_leases.c.expires_at > now)
                              .values(expires_at=now)).rowcount or 0
    found = TakeOver(leases, runs, slots)
    if found:
        log.warning("a collector stopped without finishing (killed or crashed): %d run(s) "
                    "closed as interrupted, %d lease(s) and %d slot(s) it held taken over; "
                    "its sources resume from their last committed page", runs, leases, slots)
    return found
