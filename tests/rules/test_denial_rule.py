"""The shipped ``initial-denial-rate`` rule judged on denial rates the store reader reads
from hand-built remittances (SQLite and PostgreSQL): warn at 10 %, fail at 15 % per
facility, nothing on a month with fewer than 20 claims or without denials."""

from __future__ import annotations

from sqlalchemy import Engine

from metrics.read.reader import StoreMetricReader
from rules.evaluate import Outcome, judge
from rules.loader import PACK_DIR, load_rules
from store.upsert import upsert_records
from tests.metrics.remits import NOW, claims_for_rule, clean_estate

RULE = load_rules([PACK_DIR]).by_id["initial-denial-rate"]


def _judged(engine: Engine, records: list) -> dict[str, tuple[Outcome, float | None]]:  # type: ignore[type-arg]
    with engine.begin() as conn:
        upsert_records(conn, records, source="test-835", now=NOW)
    values = StoreMetricReader(engine).values(RULE.metric, window=RULE.window,
                                              scope_keys=RULE.scope.by, now=NOW,
                                              params=RULE.parameters.args)
    return {v.scope["facility"]: (judge(RULE, v).outcome, v.value) for v in values}


def test_the_pack_rule_watches_the_initial_denial_rate() -> None:
    assert (RULE.metric, RULE.scope.by, RULE.warn, RULE.fail, RULE.owner) == (
        "denial_rate_count_pct", ("facility",), 10, 15, "revenue-integrity")


def test_initial_denial_rate_warns_and_fails_per_facility(engine: Engine) -> None:
    records = (claims_for_rule("FAC01", 20, 3) + claims_for_rule("FAC02", 20, 2)
               + claims_for_rule("FAC03", 20, 1) + claims_for_rule("FAC04", 5, 5))
    assert _judged(engine, records) == {
        "FAC01": (Outcome.FAIL, 15.0),
        "FAC02": (Outcome.WARN, 10.0),
        "FAC03": (Outcome.OK, 5.0),
        "FAC04": (Outcome.NODATA, 100.0),  # 5 claims: below min_denominator 20
    }


def test_a_clean_estate_raises_nothing(engine: Engine) -> None:
    judged = _judged(engine, clean_estate() + claims_for_rule("FAC03", 20, 0))
    assert judged == {"FAC01": (Outcome.NODATA, 0.0), "FAC02": (Outcome.NODATA, 0.0),
                      "FAC03": (Outcome.OK, 0.0)}
