"""A rule may be split by payer: the denial rate judged per facility and payer (or for one
payer) through the store reader on SQLite and PostgreSQL; a metric without payers refuses
the key with the keys it takes, and a misspelt key names payer among the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.errors import RuleFileError
from metrics.read.reader import StoreMetricReader
from rules.evaluate import Outcome, judge, scope_matches
from rules.loader import load_rules
from rules.model import Rule
from store.upsert import upsert_records
from tests.metrics.remits import NOW, denial_estate

RULE = """\
rules:
  - id: denial-rate-by-payer
    name: Initial denial rate per payer
    metric: {metric}
    scope: {scope}
    window: 30d
    direction: above
    warn: 30
    fail: 60
    owner: revenue-integrity
    stewards: [revenue-integrity@example.org]
    description: Which payer refuses the claims, and why (the denial reasons)
"""
BY_PAYER = "{by: [facility, payer]}"


def _rule(tmp_path: Path, scope: str = BY_PAYER,
          metric: str = "denial_rate_count_pct") -> Rule:
    (tmp_path / "payer.yaml").write_text(RULE.format(metric=metric, scope=scope),
                                         encoding="utf-8")
    return load_rules([tmp_path]).by_id["denial-rate-by-payer"]


def _judged(engine: Engine, rule: Rule) -> dict[tuple[str, ...], tuple[Outcome, float | None]]:
    with engine.begin() as conn:
        upsert_records(conn, denial_estate(), source="test-835", now=NOW)
    values = StoreMetricReader(engine).values(rule.metric, window=rule.window,
                                              scope_keys=rule.scope.by, now=NOW)
    return {tuple(v.scope[k] for k in rule.scope.by): (judge(rule, v).outcome, v.value)
            for v in values if scope_matches(rule, v.scope)}


def test_a_rule_judges_each_facility_and_payer(engine: Engine, tmp_path: Path) -> None:
    rule = _rule(tmp_path)
    assert rule.scope.by == ("facility", "payer")
    assert _judged(engine, rule) == {  # tests/metrics/test_denials.py works these out
        ("FAC01", "P1"): (Outcome.OK, 25.0), ("FAC01", "P2"): (Outcome.WARN, 50.0),
        ("FAC02", "P1"): (Outcome.OK, 0.0), ("FAC02", "P2"): (Outcome.FAIL, 100.0)}


def test_a_rule_watches_one_payer(engine: Engine, tmp_path: Path) -> None:
    rule = _rule(tmp_path, "{by: [payer], match: {payer: P2}}")
    # CL3, CL4, CL7 of P2 in both facilities: CL3 and CL7 initially denied
    assert _judged(engine, rule) == {("P2",): (Outcome.FAIL, 66.6667)}


def test_a_metric_without_payers_refuses_the_key(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match=r"'nack_rate_pct' cannot be split by 'payer'"):
        _rule(tmp_path, metric="nack_rate_pct")


def test_a_misspelt_key_lists_payer(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match=r"unknown scope key 'payor'; use one of .*payer"):
        _rule(tmp_path, "{by: [payor]}")
