"""Whether the tables the pass keeps for the revenue-cycle reads hold every row stored:
the claim answers (``metric_claim_answers``: remittances and their adjustments) and the
encounters' billing inputs (``metric_encounter_billing``: claims, claim lines, charges,
encounters).

The pass keeps them for the rows ingested up to its watermark. A row stored after it (a
collection the pass has not seen yet, a store written without a pass, a commit that landed
late inside the watermark's overlap) makes them stale: the reads then work from the
canonical tables, as they did before those tables existed, so a figure never lags the
canonical tables. Two index probes per table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, case, func, literal, select, union_all

from metrics.read.common import per_transaction
from store.schema import (
    charges,
    claim_lines,
    claims,
    encounters,
    remittance_adjustments,
    remittances,
)
from store.schema_metrics import metric_state

# metrics.compute.run's state names and overlap (the pass writes them; importing the pass
# here would import the reads it builds on in a circle)
WATERMARK = "ingested_watermark"
OVERLAP_COUNTS = "ingested_overlap_counts"
OVERLAP_FROM = "ingested_overlap_from"
INGEST_OVERLAP = timedelta(seconds=30)
ANSWER_TABLES = {"remittance": remittances, "remittance_adjustment": remittance_adjustments}
BILLING_TABLES = {"claim": claims, "claim_line": claim_lines, "charge": charges,
                  "encounter": encounters}


def answers_current(conn: Connection) -> bool:
    """True when no remittance or adjustment was stored since the last pass counted them."""
    return _current(conn, ANSWER_TABLES)


def billing_current(conn: Connection) -> bool:
    """True when no claim, claim line, charge or encounter was stored since the last pass
    counted them."""
    return _current(conn, BILLING_TABLES)


def _current(conn: Connection, tables: Mapping[str, Table]) -> bool:
    """No row of ``tables`` ingested after the watermark, and as many in the overlap before
    it as the pass counted: one statement of two index ranges per table, once per
    transaction."""
    return per_transaction(conn, ("chargeline.metrics_current", tuple(sorted(tables))),
                           lambda: _counted_alike(conn, tables))


def _counted_alike(conn: Connection, tables: Mapping[str, Table]) -> bool:
    state = dict(conn.execute(select(metric_state.c.name, metric_state.c.value).where(
        metric_state.c.name.in_((WATERMARK, OVERLAP_COUNTS, OVERLAP_FROM)))).all())
    if WATERMARK not in state or OVERLAP_COUNTS not in state:
        return False
    mark = _aware(datetime.fromisoformat(state[WATERMARK]))
    # the overlap the pass counted (``metrics.compute.run.overlap_start``); empty when
    # the pass ran well after the newest row, and then only rows after the mark are read
    lo = (mark - INGEST_OVERLAP if OVERLAP_FROM not in state
          else _aware(datetime.fromisoformat(state[OVERLAP_FROM])))
    counted = json.loads(state[OVERLAP_COUNTS])
    parts = []
    for name, table in tables.items():
        at = table.c.ingested_at
        parts.append(select(literal(name).label("name"), func.count().label("overlap"),
                            func.count(case((at > mark, 1))).label("after"))
                     .select_from(table).where(at > min(lo, mark)))
    for name, overlap, after in conn.execute(union_all(*parts)):
        if after or overlap != counted.get(name, 0):
            return False
    return True


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
