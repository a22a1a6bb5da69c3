"""Links from an alert e-mail into the dashboard (pure).

``alert_url``: the alert page, ``/alerts?rule=<id>&<scope key>=<value>`` (the dashboard's
``app.shaping.alerts.from_link`` finds the instance from it). ``records_url``: the drill-down
page with the records behind the metric, in the parameters ``app.shaping.drill.from_query_params``
reads (dataset, facility, channel, status, problems, since, until). Page paths are the
view file names (``app.access.PageSpec.url_path``). The mapping below names the
dashboard's record sets (``app.data.datasets.DATASETS``); tests/alerting/test_links.py parses a
link for every catalog metric with ``app.shaping.drill`` so the two stay in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

TIME_PARAM = "%Y-%m-%dT%H:%M"  # the drill-down page's URL time format (UTC)

# metric -> (dataset, status filter, problems only). The status "{reason}" takes the rule's
# ``reason`` parameter (failed mappings by reason).
_RECORDS: dict[str, tuple[str, str, bool]] = {
    "charge_capture_pct": ("capture", "", True),
    "charge_within_sla_pct": ("capture", "", True),
    "missing_charges": ("capture", "missing", False),
    "late_charges": ("capture", "late", False),
    "pending_charges": ("capture", "", False),
    "revenue_leakage_usd": ("capture", "missing", False),
    "revenue_at_risk_usd": ("at_risk", "", False),
    "implant_charge_latency_p95_minutes": ("capture", "", True),
    "charge_lag_days_mean": ("capture", "", False),
    "charge_lag_days_p90": ("capture", "late", False),
    "late_charges_usd_pct": ("capture", "late", False),
    "failed_mapping_count": ("mappings", "{reason}", False),
    "failed_mapping_usd": ("mappings", "{reason}", False),
    "duplicate_groups": ("duplicates", "", False),
    "duplicate_extra_units": ("duplicates", "", False),
    "duplicate_charge_usd": ("duplicates", "", False),
    "missing_inventory_issues": ("inventory", "missing", False),
    "charged_not_issued": ("inventory", "missing", False),
    "issued_not_charged": ("capture", "missing", False),
    "quantity_mismatches": ("inventory", "", True),
    "inventory_accuracy_pct": ("inventory", "", True),
    "stock_posting_delay_p95_minutes": ("inventory", "issued", False),
    "erp_booking_lag_p95_minutes": ("issues", "", False),
    "expired_devices_used": ("usage", "", True),  # problems: used after expiry
    "inventory_within_sla_pct": ("inventory", "issued", False),
    "messages_received": ("messages", "", False),
    "messages_errored": ("messages", "E", False),
    "messages_filtered": ("messages", "F", False),
    "messages_sent": ("messages", "S", False),
    "messages_held": ("held", "", False),
    "message_rate_per_hour": ("messages", "", False),
    "nack_rate_pct": ("messages", "", False),
    "queue_depth": ("messages", "Q", False),
    "queue_age_minutes": ("messages", "Q", False),
    "channel_stopped": ("messages", "", False),
    "volume_anomaly_z": ("messages", "", False),
    "api_p95_ms": ("api_calls", "", False),
    "api_error_rate_pct": ("api_calls", "", False),
    "api_throttled": ("api_calls", "", False),
    "minutes_since_success": ("api_calls", "", False),
    "freshness_minutes": ("api_calls", "", False),
    "replenishment_cycle_hours": ("replenishment", "", False),
    "margin_usd": ("procedures", "", False),
    # a claim's denial is decided by its first payment: the facility's remittances of the
    # window (CLP02 4 is one kind of denial; zero-paid with CO/PI/OA the other)
    "denial_rate_count_pct": ("remittances", "", False),
    "denial_rate_usd_pct": ("remittances", "", False),
    "denied_open_usd": ("remittances", "", False),
    "denial_reason_count": ("remittances", "", False),
    "denial_reason_usd": ("remittances", "", False),
    # the payer's remittance lines of the window: the denied ones whose cause Chargeline
    # knew, with their usage's trace, are listed on the Revenue cycle page
    "denials_known_cause_usd": ("remittance_lines", "", False),
    "denials_known_cause_count": ("remittance_lines", "", False),
    # the window's charges and ERP issues: the drifted and above-contract ones among them
    # are listed on the Revenue cycle page (no record filter compares with a master price)
    "cdm_price_drift_count": ("charges", "", False),
    "cdm_price_drift_usd": ("charges", "", False),
    "supply_cost_above_contract_count": ("issues", "", False),
    "supply_cost_above_contract_usd": ("issues", "", False),
    # the window's paid service lines by payer: the underpaid ones, with what their
    # contract expected, are listed on the Revenue cycle page (the terms are configuration)
    "underpaid_lines": ("remittance_lines", "", False),
    "underpayment_usd": ("remittance_lines", "", False),
    # the Encounter -> Charge gap's records: the window's scans with a capture problem (the
    # Charge -> Claim and Claim -> Payment gaps are the Revenue cycle page's tabs)
    "encounter_reconciliation_pct": ("capture", "", True),
}
_HOP_LATENCY = ("received_latency_", "sent_latency_", "charge_latency_", "inventory_latency_")


def records_of(metric: str) -> tuple[str, str, bool] | None:
    """(dataset, status, problems only) of the records behind ``metric``, if any."""
    if metric in _RECORDS:
        return _RECORDS[metric]
    if metric.startswith(_HOP_LATENCY):
        return ("inventory", "", True) if metric.startswith("inventory") else (
            "capture", "", True)
    return None


def alert_url(dashboard_url: str, rule_id: str, scope: Mapping[str, str]) -> str:
    """The dashboard alert page for one instance: ``/alerts?rule=...&<scope key>=...``."""
    query = sorted({"rule": rule_id, **scope}.items())
    return f"{dashboard_url.rstrip('/')}/alerts?{urlencode(query)}"


def records_url(dashboard_url: str, metric: str, scope: Mapping[str, str],
                since: datetime, until: datetime,
                params: Mapping[str, str] | None = None) -> str:
    """The drill-down page's records behind a metric over ``[since, until)``; ``""`` when
    the dashboard has no record set for it (open exceptions: the exception queue)."""
    target = records_of(metric)
    if target is None:
        return ""
    dataset, status, problems = target
    query: list[tuple[str, str]] = [("dataset", dataset)]
    if scope.get("facility"):
        query.append(("facility", scope["facility"]))
    channel = scope.get("channel") if dataset == "messages" else (
        scope.get("source") if dataset == "api_calls" else None)  # api_calls: by source
    if dataset == "remittance_lines":  # the payer filter of the paid lines
        channel = scope.get("payer")
    if channel:
        query.append(("channel", channel))
    status = status.replace("{reason}", (params or {}).get("reason", ""))
    if status:
        query.append(("status", status))
    if problems:
        query.append(("problems", "true"))
    query += [("since", since.astimezone(UTC).strftime(TIME_PARAM)),
              ("until", until.astimezone(UTC).strftime(TIME_PARAM))]
    return f"{dashboard_url.rstrip('/')}/drilldown?{urlencode(query)}"
