"""Drill-down state (pure): URL parameters both ways, and chart selections to filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.shaping.drill import DrillFilters, from_query_params, selection_to_filters, to_query_params

T = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("filters", [
    DrillFilters(),
    DrillFilters(dataset="messages", facilities=("FAC01", "FAC02"), channel="FAC01_CHG_OUT",
                 status="E", since=T, until=T + timedelta(hours=3)),
    DrillFilters(dataset="capture", problems=True, search="U-FAC01-000003"),
    DrillFilters(dataset="duplicates", status="serial", since=T),
])
def test_query_params_round_trip(filters: DrillFilters) -> None:
    assert from_query_params(to_query_params(filters)) == filters


@pytest.mark.parametrize(("params", "expected"), [
    ({"dataset": "nope"}, DrillFilters()),
    ({"dataset": "charges", "since": "yesterday"}, DrillFilters(dataset="charges")),
    ({"facility": "FAC01"}, DrillFilters(facilities=("FAC01",))),
    ({"dataset": "messages", "status": ["Q", "E"]}, DrillFilters(dataset="messages",
                                                                status="E")),
    ({"since": "2026-11-18T10:00Z"}, DrillFilters(since=T)),
    ({"problems": "TRUE"}, DrillFilters(problems=True)),
])
def test_bad_or_odd_params_fall_back_to_defaults(params: dict, expected: DrillFilters) -> None:
    assert from_query_params(params) == expected


def test_unknown_dataset_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'x'"):
        DrillFilters(dataset="x")


def test_a_box_selection_becomes_facilities_and_a_time_range() -> None:
    base = DrillFilters(dataset="capture", problems=True, since=T - timedelta(days=7), until=T)
    points = [
        {"x": "2026-11-18 08:00", "y": 80.0, "customdata": ["FAC02"]},
        {"x": "2026-11-18 06:00", "y": 70.0, "customdata": ["FAC01"]},
        {"x": "2026-11-18 07:00", "y": 75.0, "customdata": ["FAC02"]},
    ]
    drill = selection_to_filters(points, base=base)
    assert drill == DrillFilters(dataset="capture", problems=True, facilities=("FAC01", "FAC02"),
                                 since=T - timedelta(hours=4), until=T - timedelta(hours=1))
    day = selection_to_filters(points[:1], base=base, bucket=timedelta(days=1))
    assert day is not None and day.until == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def test_no_points_means_no_drill() -> None:
    assert selection_to_filters([], base=DrillFilters()) is None
    assert selection_to_filters([{"y": 3}], base=DrillFilters()) is None
