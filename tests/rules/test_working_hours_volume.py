"""Volume anomaly with day-of-week seasonality, on SQLite and PostgreSQL: a busy Monday
hour is judged against past Mondays at that hour once three weeks are history, not
against the quieter days before it; with less history, against the 7 days before."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.metric_values import ValueStatus
from core.model import InterfaceMessage, MessageStatus
from metrics.read.reader import StoreMetricReader
from store.upsert import upsert_records

MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _load(engine: Engine, days_back: int, *, now_count: int, monday: int = 50,
          other: int = 10) -> None:
    """Each past day's 09:00-10:00 hour: ``monday`` messages on Mondays, ``other`` on the
    other days, for ``days_back`` days; ``now_count`` in this Monday's hour."""
    rows = []
    for k in range(days_back + 1):
        count = now_count if k == 0 else (monday if k % 7 == 0 else other)
        rows += [InterfaceMessage(channel="CHG_OUT", control_id=f"D{k}-{n}",
                                  message_type="DFT^P03", facility_id="FAC01",
                                  received_at=MONDAY_10AM - timedelta(days=k, minutes=55)
                                  + timedelta(seconds=n), status=MessageStatus.SENT)
                 for n in range(count)]  # type: ignore[arg-type]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="engine", now=MONDAY_10AM)


def _z(engine: Engine):  # type: ignore[no-untyped-def]
    [value] = StoreMetricReader(engine).values(
        "volume_anomaly_z", window=HOUR, scope_keys=("facility", "channel"),
        now=MONDAY_10AM)
    return value


def test_a_busy_monday_is_compared_with_past_mondays(engine: Engine) -> None:
    _load(engine, 28, now_count=50)  # four weeks of history
    value = _z(engine)
    assert value.value == 0.0  # as busy as every Monday at this hour
    assert (value.detail["mean"], value.detail["baseline_weeks"]) == (50.0, 4.0)
    assert "baseline_days" not in value.detail


def test_a_quiet_monday_is_an_anomaly_against_past_mondays(engine: Engine) -> None:
    _load(engine, 28, now_count=12)
    value = _z(engine)
    assert value.value == pytest.approx((12 - 50) / 50 ** 0.5, abs=1e-4)  # sd floor
    assert value.detail["baseline_weeks"] == 4.0


def test_without_three_weeks_the_last_seven_days_are_the_baseline(engine: Engine) -> None:
    _load(engine, 13, now_count=50)  # two Mondays of history only
    value = _z(engine)
    assert value.detail["baseline_days"] == 7.0
    past = [10.0] * 6 + [50.0]  # the Monday a week ago among six quieter days
    mean = statistics.mean(past)
    assert value.detail["mean"] == pytest.approx(mean, abs=1e-3)
    assert value.value == pytest.approx((50 - mean) / statistics.stdev(past), abs=1e-3)
    assert value.status is ValueStatus.OK


def test_history_begins_with_the_feed(engine: Engine) -> None:
    _load(engine, 2, now_count=50)  # the feed began two days ago
    assert _z(engine).status is ValueStatus.NODATA
