"""The denial trend's buckets (pure): days for a short window, ISO weeks from Monday past
two weeks, a line per payer by name and one for all payers, rates from the sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.shaping.revenue import ALL_PAYERS, denial_trend_rows, trend_grain

MON = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday


def test_the_grain_follows_the_window() -> None:
    assert trend_grain(timedelta(days=7)) == "day"
    assert trend_grain(timedelta(days=14)) == "day"
    assert trend_grain(timedelta(days=30)) == "week"


def test_weeks_sum_their_days_before_the_rate_and_name_the_payers() -> None:
    days = [  # (day, payer, claims, denied, charge $, denied $)
        (MON, "99101", 4, 1, 400.0, 100.0),
        (MON + timedelta(days=6), "99101", 6, 3, 600.0, 300.0),  # Sunday: the same week
        (MON + timedelta(days=7), "99101", 2, 0, 200.0, 0.0),  # next Monday
        (MON + timedelta(days=2), "X", 10, 0, 50.0, 0.0),  # no name known: its id
    ]
    rows = denial_trend_rows(days, "week", {"99101": "NORTHSTAR"})
    got = {(r["bucket"], r["payer"]): (r["claims"], r["denied"], r["rate_count_pct"],
                                       r["rate_usd_pct"]) for r in rows}
    assert got == {
        (MON, "NORTHSTAR"): (10, 4, 40.0, 40.0),  # 4 of 10, not the mean of 25 % and 50 %
        (MON, "X"): (10, 0, 0.0, 0.0),
        (MON, ALL_PAYERS): (20, 4, 20.0, round(100 * 400 / 1050, 2)),
        (MON + timedelta(days=7), "NORTHSTAR"): (2, 0, 0.0, 0.0),
        (MON + timedelta(days=7), ALL_PAYERS): (2, 0, 0.0, 0.0),
    }
    by_day = denial_trend_rows(days, "day", {})
    assert len({r["bucket"] for r in by_day}) == 4
