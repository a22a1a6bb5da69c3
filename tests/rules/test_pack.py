"""The shipped healthcare rule pack loads against the metrics catalog (names, scope keys,
parameters), covers what stewards need, and its thresholds point the right way."""

from __future__ import annotations

import pytest

from metrics.catalog import CATALOG
from rules.loader import PACK_DIR, load_rules

PACK = load_rules([PACK_DIR])  # no known_metrics: checked against metrics.catalog

# What issue 6 asks the default pack to watch: rule id -> metric it must use.
REQUIRED = {
    "implant-charge-latency": "implant_charge_latency_p95_minutes",
    "charge-capture": "charge_capture_pct",
    "duplicate-charges-usd": "duplicate_charge_usd",
    "failed-mapping-no-crosswalk": "failed_mapping_count",
    "failed-mapping-cdm-without-hcpcs": "failed_mapping_count",
    "failed-mapping-unknown-item": "failed_mapping_count",
    "failed-mapping-unit": "failed_mapping_count",
    "missing-inventory-issues": "missing_inventory_issues",
    "stock-posting-delay": "stock_posting_delay_p95_minutes",
    "nack-rate": "nack_rate_pct",
    "interface-queue-age": "queue_age_minutes",
    "messages-held": "messages_held",
    "api-error-rate": "api_error_rate_pct",
    "api-response-time": "api_p95_ms",
    "source-freshness": "freshness_minutes",
    "volume-drop": "volume_anomaly_z",
    "replenishment-cycle-time": "replenishment_cycle_hours",
    # issue 21: prices against the chargemaster and the supply contracts
    "cdm-price-drift": "cdm_price_drift_usd",
    "supply-cost-above-contract": "supply_cost_above_contract_usd",
    # issue 21: encounters posted, claimed and paid (the gap tabs)
    "encounter-reconciliation": "encounter_reconciliation_pct",
}


def test_pack_covers_the_healthcare_rules() -> None:
    assert {rid: PACK.by_id[rid].metric for rid in REQUIRED if rid in PACK.by_id} == REQUIRED
    reasons = {PACK.by_id[r].parameters.args.get("reason") for r in PACK.by_id
               if PACK.by_id[r].metric == "failed_mapping_count"}
    assert reasons == {"unknown_item", "no_crosswalk", "cdm_without_hcpcs",
                       "unit_not_convertible"}


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_each_rule_fits_its_catalog_metric(rule) -> None:
    spec = CATALOG[rule.metric]
    assert set(rule.scope.by) <= spec.scopes
    assert set(rule.parameters.args) <= set(spec.params)
    # a metric where bigger is better alerts when it falls, and the other way round
    if spec.higher_is_better:
        assert rule.direction.value == "below"
    elif rule.metric != "volume_anomaly_z":  # a z-score is watched both ways
        assert rule.direction.value == "above"
    if rule.unit and spec.unit in ("USD", "%", "minutes", "ms", "hours"):
        assert rule.unit == spec.unit


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_each_rule_tells_a_steward_what_to_do(rule) -> None:
    assert len(rule.description) >= 60 and rule.description.rstrip().endswith(".")
    assert rule.runbook.startswith("https://")
    assert rule.stewards and rule.owner
    assert rule.warn is not None  # a warning before the fail
    assert rule.keep_firing.total_seconds() > 0  # no flapping on a noisy series


def test_rule_file_versions_are_distinct_files() -> None:
    assert [s.path.rsplit("/", 1)[1] for s in PACK.sources] == [
        "integration.yaml", "revenue_cycle.yaml", "revenue_denials.yaml",
        "supply_chain.yaml"]
    assert len({s.sha256 for s in PACK.sources}) == 4
