"""The pass's claim answers (``metric_claim_answers``) give the denial reads exactly what
ranking the remittances gives, at any ``now``; they are used only while they hold every
remittance stored, and an incremental pass keeps them as a full one makes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.config import ChargeSla
from metrics.compute import run
from metrics.compute.run import compute
from metrics.read import answers
from metrics.read.answers import answers_current
from metrics.read.common import Read
from metrics.read.denials import claims
from metrics.read.reader import StoreMetricReader
from store.schema_metrics import metric_claim_answers
from store.upsert import upsert_records
from tests.metrics.remits import NOW, WINDOW, adj, day, denial_estate, remit

# before the window, inside it (before CL3's appeal, before the reversal of CL7), at the
# test's now, after CL9's late payment
NOWS = [day(20, 10), NOW.replace(day=7), NOW.replace(day=19), NOW.replace(day=14), NOW,
        datetime(2026, 12, 5, tzinfo=UTC)]
METRICS = ("denial_rate_count_pct", "denial_rate_usd_pct", "denied_open_usd",
           "denial_reason_usd")


def _store(engine: Engine, records: list[Any], at: datetime) -> None:
    with engine.begin() as conn:
        upsert_records(conn, records, source="test-835", now=at)


def _claims(engine: Engine, now: datetime, stored: bool) -> set[tuple[Any, ...]]:
    read = Read("denial_rate_count_pct", WINDOW, (), now)
    sub = claims(read, stored)
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(sub).where(sub.c.paid_at >= read.start))}


def _figures(engine: Engine) -> dict[tuple[str, datetime, str], Any]:
    reader = StoreMetricReader(engine)
    out = {}
    for metric in METRICS:
        for now in NOWS:
            for scope in ((), ("facility",), ("payer",)):
                for v in reader.values(metric, window=WINDOW, scope_keys=scope, now=now):
                    out[(metric, now, repr(v.scope))] = (v.value, v.amount, v.detail)
    return out


def test_the_state_names_are_the_pass_s() -> None:
    assert (answers.WATERMARK, answers.OVERLAP_COUNTS, answers.OVERLAP_FROM,
            answers.INGEST_OVERLAP) == (
        run.WATERMARK, run.OVERLAP_COUNTS, run.OVERLAP_FROM, run.INGEST_OVERLAP)


def test_stored_answers_equal_the_ranking_at_every_now(engine: Engine) -> None:
    _store(engine, denial_estate(), NOW)
    ranked = _figures(engine)  # no pass yet: the reads rank the remittances
    with engine.connect() as conn:
        assert not answers_current(conn)
    compute(engine, ChargeSla(), now=NOW)
    with engine.connect() as conn:
        assert answers_current(conn)
    for now in NOWS:
        assert _claims(engine, now, True) == _claims(engine, now, False), now
    assert _figures(engine) == ranked


def test_a_remittance_stored_after_the_pass_is_read_at_once(engine: Engine) -> None:
    _store(engine, denial_estate(), NOW)
    compute(engine, ChargeSla(), now=NOW)
    reader = StoreMetricReader(engine)
    before = reader.values("denial_rate_count_pct", window=WINDOW, scope_keys=(), now=NOW)
    # CL1's payment was reversed and the claim denied on review after the pass
    _store(engine, [remit("R1r", "CL1", "22", -1000, -800, day(15)),
                    remit("R1d", "CL10", "4", 400, 0, day(16)), adj("R1d", "CL10", "CO-16", 400)],
           NOW + timedelta(minutes=5))
    with engine.connect() as conn:
        assert not answers_current(conn)
    after = reader.values("denial_rate_count_pct", window=WINDOW, scope_keys=(), now=NOW)
    assert after[0].detail["denominator"] == before[0].detail["denominator"] + 1
    assert after[0].detail["numerator"] == before[0].detail["numerator"] + 1
    result = compute(engine, ChargeSla(), now=NOW)
    assert not result.full
    with engine.connect() as conn:
        assert answers_current(conn)
    assert reader.values("denial_rate_count_pct", window=WINDOW, scope_keys=(),
                         now=NOW) == after


@pytest.mark.parametrize("late_adjustment", [False, True])
def test_incremental_answers_equal_a_full_pass(engine: Engine, late_adjustment: bool
                                               ) -> None:
    records = denial_estate()
    first = [r for r in records if getattr(r, "remittance_id", "") not in {"R3b", "R7r"}]
    _store(engine, first, NOW)
    compute(engine, ChargeSla(), now=NOW)
    # an appeal paid and a reversal later; a zero payment whose denying CAS came after it
    later = [r for r in records if getattr(r, "remittance_id", "") in {"R3b", "R7r"}]
    later.append(remit("R11", "CL11", "1", 250, 0, day(18)))
    _store(engine, later, NOW + timedelta(minutes=5))
    if late_adjustment:
        compute(engine, ChargeSla(), now=NOW)
        _store(engine, [adj("R11", "CL11", "CO-50", 250)], NOW + timedelta(minutes=10))
    else:
        later_adj = [adj("R11", "CL11", "CO-50", 250)]
        _store(engine, later_adj, NOW + timedelta(minutes=5))
    assert not compute(engine, ChargeSla(), now=NOW).full
    with engine.connect() as conn:
        incremental = {tuple(r) for r in conn.execute(select(metric_claim_answers))}
    compute(engine, ChargeSla(), full=True, now=NOW)
    with engine.connect() as conn:
        full = {tuple(r) for r in conn.execute(select(metric_claim_answers))}
    assert incremental == full
    assert any(r[0] == "CL11" and r[6] == 1 for r in full)  # denied by its late CAS
