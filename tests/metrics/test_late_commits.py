"""A collector transaction that commits after a pass read the store, with rows stamped
before the pass's watermark (a late commit), SQLite and PostgreSQL: the next pass still
sees them, and the dashboard's freshness check says the pass's tables lag until then. A
pass that runs well after the newest row counts no overlap at all (a store loaded in bulk
stamps every row alike, and counting it was 36 s of an incremental pass at 10M usages)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from core.config import ChargeSla
from metrics.compute.run import OVERLAP_COUNTS, OVERLAP_FROM, WATERMARK, compute
from metrics.read.answers import billing_current
from store.schema_metrics import metric_state, metric_usage_facts
from tests.metrics.factories import charge, master_data, usage
from tests.metrics.stage_pass import INGESTED, load

SLA = ChargeSla()


def _state(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(metric_state.c.name, metric_state.c.value)).all())


def _usages(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(metric_usage_facts))
                   .scalar_one())


def test_a_row_stamped_before_the_watermark_that_commits_late_is_seen(engine: Engine) -> None:
    load(engine, [*master_data(), usage("u1", "IMP1", 0), charge("c1", "C1", 30, uid="u1")])
    # the pass runs 5 s after the newest row: a transaction open then could commit later
    compute(engine, SLA, now=INGESTED + timedelta(seconds=5))
    state = _state(engine)
    assert state[OVERLAP_FROM] < state[WATERMARK]
    # ... and does: its row was stamped 10 s before the watermark
    load(engine, [usage("u2", "IMP1", 5, enc="ENC2"), charge("c2", "C1", 35, uid="u2",
                                                         enc="ENC2")],
         ingested=INGESTED - timedelta(seconds=10))
    with engine.connect() as conn:
        assert not billing_current(conn)  # the freshness check sees the overlap grew
    result = compute(engine, SLA, now=INGESTED + timedelta(seconds=40))
    assert not result.full and result.encounters >= 1
    assert _usages(engine) == 2
    with engine.connect() as conn:
        assert billing_current(conn)


def test_a_pass_well_after_the_newest_row_counts_no_overlap(engine: Engine) -> None:
    load(engine, [*master_data(), usage("u1", "IMP1", 0), usage("u2", "IMP1", 1, enc="E2")])
    compute(engine, SLA, now=INGESTED + timedelta(hours=1))
    state = _state(engine)
    assert state[OVERLAP_FROM] > state[WATERMARK] and state[OVERLAP_COUNTS] == "{}"
    with engine.connect() as conn:
        assert billing_current(conn)
    # a new collection an hour and a minute later: seen, and the freshness check says so
    load(engine, [usage("u3", "IMP1", 2, enc="E3"), charge("c3", "C1", 32, uid="u3", enc="E3")],
         ingested=INGESTED + timedelta(hours=1, minutes=1))
    with engine.connect() as conn:
        assert not billing_current(conn)
    result = compute(engine, SLA, now=INGESTED + timedelta(hours=1, minutes=1, seconds=5))
    assert not result.full and result.encounters >= 1
    assert _usages(engine) == 3
