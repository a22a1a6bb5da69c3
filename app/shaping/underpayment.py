"""The Revenue cycle page's underpayments, pure: the underpayment metrics
(``metrics.read.underpayment``, read through the store reader) as one row per payer,
facility or the whole estate, and the drill-down filters behind them (the window's
``remittance_lines``, by payer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app.shaping.drill import DrillFilters
from core.metric_values import MetricValue, ValueStatus

UNDERPAY_METRICS = ("underpaid_lines", "underpayment_usd")
UNDERPAY_COLUMNS = ("judged", "underpaid", "short_usd", "expected_usd", "short_pct",
                    "over_usd", "not_judged", "error")
LINE_COLUMNS = ("facility_id", "payer_id", "claim_id", "line_no", "procedure_code",
                "service_on", "paid_at", "charge_usd", "expected_usd", "term", "allowed_usd",
                "paid_usd", "patient_usd", "variance_usd", "carcs")
DATASET = "remittance_lines"
NO_CONTRACTS = ("No payer contract is configured, so no remittance line is judged: add "
                "`payer_contracts` to the configuration (chargeline.example.yaml; README, "
                "Configuration) with each payer's default percent of charges, HCPCS fees "
                "and revenue-code carve-outs.")


def underpay_rows(values: Mapping[str, Sequence[MetricValue]],
                  scope_keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per scope (``scope_keys`` columns, then ``UNDERPAY_COLUMNS``): lines judged
    and underpaid, $ short and its share of the expected $, $ overpaid (never netted),
    lines not judged (no contract or term); ``error`` names a failing remittance source."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for metric in UNDERPAY_METRICS:
        for v in values.get(metric, ()):
            key = tuple(v.scope.get(k, "") for k in scope_keys)
            row = rows.setdefault(key, {**dict(zip(scope_keys, key, strict=True)),
                                        **_zero()})
            if v.status is ValueStatus.ERROR:
                row["error"] = v.error
            row["judged"] = int(v.detail.get("judged_lines", 0))
            row["not_judged"] = int(v.detail.get("not_judged_lines", 0))
            row["over_usd"] = float(v.detail.get("over_usd", 0.0))
            if metric == "underpaid_lines":
                row["underpaid"] = int(v.detail.get("numerator", 0))
            else:
                row["short_usd"] = float(v.amount or 0.0)
                row["expected_usd"] = float(v.detail.get("denominator", 0.0))
    for row in rows.values():
        row["short_pct"] = (100.0 * row["short_usd"] / row["expected_usd"]
                            if row["expected_usd"] else None)
    return [rows[k] for k in sorted(rows)]


def _zero() -> dict[str, Any]:
    return {"judged": 0, "underpaid": 0, "short_usd": 0.0, "expected_usd": 0.0,
            "short_pct": None, "over_usd": 0.0, "not_judged": 0, "error": ""}


def underpay_total(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The estate-wide row, or zeros when no line was remitted in the window."""
    return dict(rows[0]) if rows else _zero()


def lines_filters(start: datetime, end: datetime, payer: str = "") -> DrillFilters:
    """The window's paid service lines (of one payer), where the underpaid ones are."""
    return DrillFilters(dataset=DATASET, since=start, until=end, channel=payer)
