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

# underpayment_usd's detail carries the line counts too: one read per page, not two
UNDERPAY_METRIC = "underpayment_usd"
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


def underpay_rows(values: Sequence[MetricValue],
                  scope_keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per scope (``scope_keys`` columns, then ``UNDERPAY_COLUMNS``) from the
    ``underpayment_usd`` values: lines judged and underpaid, $ short and its share of the
    expected $, $ overpaid (never netted), lines not judged (no contract or term);
    ``error`` names a failing remittance source."""
    rows = []
    for v in values:
        row = {**{k: v.scope.get(k, "") for k in scope_keys}, **_zero()}
        row.update(judged=int(v.detail.get("judged_lines", 0)),
                   underpaid=int(v.detail.get("underpaid_lines", 0)),
                   short_usd=float(v.amount or 0.0),
                   expected_usd=float(v.detail.get("denominator", 0.0)),
                   over_usd=float(v.detail.get("over_usd", 0.0)),
                   not_judged=int(v.detail.get("not_judged_lines", 0)),
                   error=v.error if v.status is ValueStatus.ERROR else "")
        rows.append(_with_share(row))
    return sorted(rows, key=lambda r: tuple(r[k] for k in scope_keys))


def _with_share(row: dict[str, Any]) -> dict[str, Any]:
    row["short_pct"] = (100.0 * row["short_usd"] / row["expected_usd"]
                        if row["expected_usd"] else None)
    return row


def _zero() -> dict[str, Any]:
    return {"judged": 0, "underpaid": 0, "short_usd": 0.0, "expected_usd": 0.0,
            "short_pct": None, "over_usd": 0.0, "not_judged": 0, "error": ""}


def underpay_total(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The estate's figures as the sum of its rows (by payer or by facility: every count and
    $ adds up), zeros when no line was remitted in the window."""
    total = _zero()
    for row in rows:
        for key in ("judged", "underpaid", "short_usd", "expected_usd", "over_usd",
                    "not_judged"):
            total[key] += row[key]
        total["error"] = total["error"] or row["error"]
    total["short_usd"] = round(total["short_usd"], 2)
    total["over_usd"] = round(total["over_usd"], 2)
    return _with_share(total)


def lines_filters(start: datetime, end: datetime, payer: str = "") -> DrillFilters:
    """The window's paid service lines (of one payer), where the underpaid ones are."""
    return DrillFilters(dataset=DATASET, since=start, until=end, channel=payer)
