"""The Revenue cycle page's underpayment rows, pure: one row per payer from the
``underpayment_usd`` values, the estate as their sums, a failing source named."""

from __future__ import annotations

from datetime import UTC, datetime

from app.shaping.underpayment import lines_filters, underpay_rows, underpay_total
from core.metric_values import MetricValue, ValueStatus

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _value(payer: str, short: float, *, judged: int, under: int, expected: float,
           over: float = 0.0, not_judged: int = 0,
           status: ValueStatus = ValueStatus.OK, error: str = "") -> MetricValue:
    detail = {"judged_lines": float(judged), "underpaid_lines": float(under),
              "denominator": expected, "numerator": short, "over_usd": over,
              "not_judged_lines": float(not_judged)}
    return MetricValue("underpayment_usd", {"payer": payer}, short, status, NOW, short,
                       detail, error)


def test_rows_per_payer_and_the_estate_as_their_sums() -> None:
    rows = underpay_rows([
        _value("P2", 0.0, judged=0, under=0, expected=0.0, not_judged=4,
               status=ValueStatus.NODATA),
        _value("P1", 120.0, judged=40, under=2, expected=1200.0, over=20.0),
        _value("P3", 30.5, judged=10, under=1, expected=100.0, status=ValueStatus.ERROR,
               error="billing-835 failing"),
    ], ("payer",))
    assert [r["payer"] for r in rows] == ["P1", "P2", "P3"]
    assert rows[0] == {"payer": "P1", "judged": 40, "underpaid": 2, "short_usd": 120.0,
                       "expected_usd": 1200.0, "short_pct": 10.0, "over_usd": 20.0,
                       "not_judged": 0, "error": ""}
    assert rows[1]["short_pct"] is None and rows[1]["not_judged"] == 4
    total = underpay_total(rows)
    assert (total["judged"], total["underpaid"], total["short_usd"], total["over_usd"],
            total["not_judged"]) == (50, 3, 150.5, 20.0, 4)
    assert total["short_pct"] == 150.5 / 1300.0 * 100 and total["error"] == (
        "billing-835 failing")
    assert underpay_total([])["short_pct"] is None


def test_the_lines_link_filters_by_payer() -> None:
    f = lines_filters(NOW, NOW, payer="P1")
    assert (f.dataset, f.channel, f.problems) == ("remittance_lines", "P1", False)
