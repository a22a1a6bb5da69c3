"""Rhapsody REST monitoring answers (tests/data/engines/rhapsody, written from the API's
documentation) into ChannelStats: the locker tree, counts, states, facilities by locker."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.rhapsody_records import (
    CommPointCounts,
    channel_stats,
    parse_commpoint,
    parse_components,
    state_notes,
)
from core.errors import RecordError

DATA = Path(__file__).parents[1] / "data" / "engines" / "rhapsody"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def doc(name: str) -> object:
    return json.loads((DATA / name).read_text())


def test_the_tree_gives_every_component_with_its_locker() -> None:
    components = parse_components(doc("components_status.json"), "x")
    assert [(c.id, c.path, c.type, c.state, c.queued, c.failed_queue) for c in components] == [
        ("103", "North Campus/ADT_IN", "COMMUNICATION_POINT", "STOPPED", 4, 0),
        ("101", "North Campus/Billing/DFT_OUT", "COMMUNICATION_POINT", "RUNNING", 12, 3),
        ("102", "North Campus/Billing/Charges route", "ROUTE", "RUNNING", 0, 0),
        ("201", "South Campus/DFT_OUT", "COMMUNICATION_POINT", "RETRYING", 40, 0)]
    assert {c.locker for c in components} == {"North Campus", "South Campus"}


def test_counts_null_where_the_mode_has_none() -> None:
    out = parse_commpoint(doc("commpoint_101.json"), "x")
    assert (out.received, out.sent, out.failed, out.queued, out.failed_queue) == \
        (0, 2630, 75, 12, 3)
    inbound = parse_commpoint(doc("commpoint_103.json"), "x")
    assert (inbound.received, inbound.sent, inbound.queued) == (5120, 0, 4)


def test_channel_stats_per_point_facility_by_locker() -> None:
    components = {c.id: c for c in parse_components(doc("components_status.json"), "x")}
    points = [(components[i], parse_commpoint(doc(f"commpoint_{i}.json"), "x"))
              for i in ("101", "103", "201")]
    facilities = {"North Campus": "FAC01", "South Campus": "FAC02"}
    records, rejects = channel_stats(points, NOW, facilities.__getitem__, "x")
    assert rejects == []
    assert [(r.channel, r.facility_id, r.received, r.filtered, r.queued, r.sent, r.errored)
            for r in records] == [("DFT_OUT", "FAC01", 0, 0, 12, 2630, 75),
                                  ("ADT_IN", "FAC01", 5120, 0, 4, 0, 0),
                                  ("DFT_OUT", "FAC02", 0, 0, 40, 910, 1)]


def test_channel_stats_keep_the_point_state_and_whether_it_waits() -> None:
    """North DFT_OUT running with 12 queued, ADT_IN stopped holding 4, South DFT_OUT
    retrying its connection with 40 queued; ERROR is its own state."""
    components = {c.id: c for c in parse_components(doc("components_status.json"), "x")}
    points = [(components[i], parse_commpoint(doc(f"commpoint_{i}.json"), "x"))
              for i in ("101", "103", "201")]
    facilities = {"North Campus": "FAC01", "South Campus": "FAC02"}
    records, _ = channel_stats(points, NOW, facilities.__getitem__, "x")
    assert [(r.facility_id, r.channel, r.state, r.waiting_connectors) for r in records] == [
        ("FAC01", "DFT_OUT", "started", 1), ("FAC01", "ADT_IN", "stopped", 1),
        ("FAC02", "DFT_OUT", "started", 1)]
    idle = replace(components["103"], state="ERROR", queued=0)
    (record,), _ = channel_stats([(idle, CommPointCounts(1, 0, 0, 0, 0))], NOW,
                                 lambda locker: "FAC01", "x")
    assert (record.state, record.waiting_connectors) == ("error", 0)


def test_two_points_of_one_name_in_one_facility_are_told_apart_by_path() -> None:
    components = {c.id: c for c in parse_components(doc("components_status.json"), "x")}
    points = [(components[i], parse_commpoint(doc(f"commpoint_{i}.json"), "x"))
              for i in ("101", "201")]
    records, _ = channel_stats(points, NOW, lambda locker: "FAC01", "x")
    assert [r.channel for r in records] == ["North Campus/Billing/DFT_OUT",
                                            "South Campus/DFT_OUT"]


def test_states_not_running_and_queues_are_noted() -> None:
    notes = state_notes(parse_components(doc("components_status.json"), "x"))
    assert notes == ["North Campus/ADT_IN: STOPPED", "South Campus/DFT_OUT: RETRYING",
                     "North Campus/ADT_IN: 4 queued, 0 failed",
                     "North Campus/Billing/DFT_OUT: 12 queued, 3 failed",
                     "South Campus/DFT_OUT: 40 queued, 0 failed"]


@pytest.mark.parametrize(("body", "reason"), [
    (doc("error.json"), "the engine answered an error: No communication point"),
    ({"channels": []}, "not a Rhapsody answer"),
    ({"data": [], "error": None}, "not the root folder"),
    ({"data": {"childComponents": [{"id": 1, "inboundQueueSize": "many"}]}, "error": None},
     "inboundQueueSize is not a count"),
])
def test_bad_answers_are_refused_with_the_reason(body: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_components(body, "x")
