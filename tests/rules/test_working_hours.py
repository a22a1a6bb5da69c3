"""Working hours in rules: the span syntax, each facility's local time (daylight saving
included), the off-hours thresholds and window a scope is judged by, problems with
file:line, and one pass through the store (two facilities, two time zones, one instant)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerting.data.instances import load_states
from alerting.evaluation import evaluate
from alerting.service import evaluate_and_notify
from alerting.state import State
from core.config import load_settings
from core.errors import RuleFileError
from core.metric_values import MetricValue
from core.model import InterfaceMessage, MessageStatus
from metrics.lineage.data import live_lineage
from metrics.read.reader import StoreMetricReader
from rules.hours import parse_working, working_at
from rules.loader import RuleSet, load_rules
from tests.alerting.factories import make_rule, value

NY, LA = "America/New_York", "America/Los_Angeles"
# Wednesday 2026-11-18: New York is UTC-5, Los Angeles UTC-8
WED_3AM_NY = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
WED_10AM_NY = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
WED_8AM_NY = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)  # 05:00 in Los Angeles


def _idle_rule(**hours):
    """Messages received per channel: fewer than 1 an hour is an outage in working
    hours; off hours only a channel silent for 6 hours is."""
    return make_rule(
        id="charge-idle", name="Charge channel idle", metric="messages_received",
        direction="below", warn=5, fail=0, window="1h",
        hours={"working": "Mon-Fri 07:00-19:00", "tz": NY,
               "off_hours": {"warn": None, "window": "6h"}, **hours})


def test_spans() -> None:
    [weekdays, saturday] = parse_working("Mon-Fri 07:00-19:00, Sat 08:00-12:00")
    assert (sorted(weekdays.days), weekdays.start, weekdays.end) == ([0, 1, 2, 3, 4], 420, 1140)
    assert (sorted(saturday.days), saturday.start, saturday.end) == ([5], 480, 720)
    [wrap] = parse_working("Fri-Mon 00:00-24:00")
    assert sorted(wrap.days) == [0, 4, 5, 6]
    [listed] = parse_working("Mon,Wed , Fri 09:00-17:00")
    assert sorted(listed.days) == [0, 2, 4]
    night = parse_working("Mon-Fri 19:00-07:00")
    # Friday 23:00 and Saturday 06:59 are in; Saturday 07:00 and Monday 06:00 are not
    assert working_at(night, "UTC", datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    assert working_at(night, "UTC", datetime(2026, 11, 21, 6, 59, tzinfo=UTC))
    assert not working_at(night, "UTC", datetime(2026, 11, 21, 7, 0, tzinfo=UTC))
    assert not working_at(night, "UTC", datetime(2026, 11, 16, 6, 0, tzinfo=UTC))


@pytest.mark.parametrize("text", ["Mon-Fry 07:00-19:00", "Mon-Fri 7-19", "Mon 07:00-07:00",
                                  "Mon 07:00-19:00 and more", "Mon 25:00-26:00", "",
                                  "Mon 07:00-19:00 Tue 08:00-09:00"])
def test_bad_spans_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"working hours|unknown day|empty|time of day"):
        parse_working(text)


def test_local_time_follows_daylight_saving() -> None:
    spans = parse_working("Mon-Fri 07:00-19:00")
    # 11:30 UTC: 07:30 in New York in July (UTC-4), 06:30 in November (UTC-5)
    assert working_at(spans, NY, datetime(2026, 7, 15, 11, 30, tzinfo=UTC))
    assert not working_at(spans, NY, datetime(2026, 11, 18, 11, 30, tzinfo=UTC))


def test_each_facility_in_its_own_hours() -> None:
    rule = _idle_rule(facilities={"FAC02": {"tz": LA},
                                  "FAC03": {"working": "Mon-Sun 00:00-24:00"}})
    hours = rule.hours
    assert hours is not None
    assert hours.working_at("FAC01", WED_8AM_NY)
    assert not hours.working_at("FAC02", WED_8AM_NY)  # 05:00 in Los Angeles
    assert hours.working_at("FAC03", WED_3AM_NY)  # the 24/7 department
    assert hours.working_at(None, WED_8AM_NY)  # no facility: the rule's own zone
    assert hours.modes_at(WED_8AM_NY) == {True, False}
    off = rule.at("FAC02", WED_8AM_NY)
    assert (off.warn, off.fail, off.window, off.hours) == (None, 0, timedelta(hours=6), None)
    assert rule.at("FAC01", WED_8AM_NY) is rule
    assert rule.off_hours_rule() is off  # built once


class WindowReader:
    """Messages received per (facility, channel) over the last ``window``: each
    facility's channel sent its last message ``idle_hours[facility]`` hours ago, after
    ten an hour before that."""

    def __init__(self, idle_hours: Mapping[str, float]) -> None:
        self.idle_hours = idle_hours
        self.windows: list[timedelta] = []

    def metric_names(self) -> frozenset[str]:
        return frozenset({"messages_received"})

    def values(self, metric: str, *, window: timedelta, scope_keys: tuple[str, ...],
               now: datetime, params: Mapping[str, str] | None = None) -> list[MetricValue]:
        self.windows.append(window)
        hours = window.total_seconds() / 3600
        return [value(metric, {"facility": fac, "channel": f"{fac}_CHG_OUT"},
                      max(0.0, hours - idle) * 10) for fac, idle in self.idle_hours.items()]


def test_an_idle_channel_at_3am_is_normal_at_10am_an_outage() -> None:
    rule = _idle_rule()
    reader = WindowReader({"FAC01": 2})
    night = evaluate([rule], reader, {}, WED_3AM_NY)
    [state] = night.states.values()
    assert state.state is State.OK  # 40 messages in the last 6 hours
    assert (state.value, state.threshold, state.detail) == (40.0, 0.0, {"off_hours": 1.0})
    assert reader.windows == [timedelta(hours=6)]  # off hours everywhere: one read
    day = evaluate([rule], reader, {}, WED_10AM_NY)
    [state] = day.states.values()
    assert (state.state, state.level, state.value) == (State.FIRING, "fail", 0.0)
    assert reader.windows[-1] == timedelta(hours=1)
    # Saturday 10:00 is off hours
    saturday = evaluate([rule], reader, {}, WED_10AM_NY + timedelta(days=3))
    assert [s.state for s in saturday.states.values()] == [State.OK]


def test_one_instant_two_zones_two_windows() -> None:
    rule = _idle_rule(facilities={"FAC02": {"tz": LA}})
    reader = WindowReader({"FAC01": 2, "FAC02": 2})
    result = evaluate([rule], reader, {}, WED_8AM_NY)
    assert sorted(reader.windows) == [timedelta(hours=1), timedelta(hours=6)]
    by_fac = {s.scope["facility"]: s for s in result.states.values()}
    assert (by_fac["FAC01"].state, by_fac["FAC01"].value) == (State.FIRING, 0.0)
    assert (by_fac["FAC02"].state, by_fac["FAC02"].value) == (State.OK, 40.0)
    # the off-hours instance keeps its state when the working-hours read fails
    failing = WindowReader({"FAC01": 2, "FAC02": 2})
    failing.values = _fail_on(failing.values, timedelta(hours=1))  # type: ignore[method-assign]
    again = evaluate([rule], failing, result.states, WED_8AM_NY + timedelta(minutes=1))
    by_fac = {s.scope["facility"]: s for s in again.states.values()}
    assert by_fac["FAC01"].state is State.ERROR
    assert by_fac["FAC02"].state is State.OK
    assert "charge-idle" in again.rule_errors


def _fail_on(values, window):  # type: ignore[no-untyped-def]
    def read(metric, *, window: timedelta, **kw):  # type: ignore[no-untyped-def]
        if window == failing_window:
            raise RuntimeError("store unreachable")
        return values(metric, window=window, **kw)
    failing_window = window
    return read


def test_off_hours_thresholds_alone() -> None:
    rule = make_rule(id="queue-age", metric="queue_age_minutes", warn=15, fail=60,
                     hours={"working": "Mon-Fri 07:00-19:00", "tz": NY,
                            "off_hours": {"warn": 120, "fail": 240}})
    off = rule.off_hours_rule()
    assert (off.warn, off.fail, off.window) == (120, 240, rule.window)


RULE_FILE = """\
rules:
  - id: charge-idle
    name: Charge channel idle
    metric: messages_received
    scope: {by: [facility, channel]}
    window: 1h
    direction: below
    warn: 5
    fail: 1
    owner: integration
    stewards: [interfaces@example.org]
    description: No charge messages in working hours is an outage.
    hours:
      working: "Mon-Fri 07:00-19:00"
      tz: America/New_York
      facilities:
        FAC02: {tz: America/Chicago}
      off_hours: {warn: null, fail: 0, window: 6h}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "idle.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rule_file_with_hours_loads(tmp_path: Path) -> None:
    [rule] = load_rules([_write(tmp_path, RULE_FILE)]).rules
    assert rule.hours is not None and rule.hours.facilities["FAC02"].tz == "America/Chicago"
    assert rule.off_hours_rule().window == timedelta(hours=6)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('"Mon-Fri 07:00-19:00"', '"Mon-Fry 07:00-19:00"',
     "idle.yaml:14: rules[0].hours.working — 'Mon-Fry 07:00-19:00': unknown day 'Fry'"),
    ("tz: America/New_York", "tz: America/New_Yrok",
     "idle.yaml:15: rules[0].hours.tz — unknown time zone 'America/New_Yrok'"),
    ("{tz: America/Chicago}", "{tzz: America/Chicago}",
     "idle.yaml:17: rules[0].hours.facilities.FAC02.tzz — unknown key 'tzz' — did you "
     "mean 'tz'?"),
    ("window: 6h}", "windw: 6h}",
     "idle.yaml:18: rules[0].hours.off_hours.windw — unknown key 'windw' — did you mean "
     "'window'?"),
    ("{warn: null, fail: 0, window: 6h}", "{warn: 0, fail: 3}",
     "idle.yaml:13: rules[0].hours — off_hours: fail 3 must be below warn 0 when "
     "direction is below"),
    ("      off_hours: {warn: null, fail: 0, window: 6h}\n", "",
     "idle.yaml:13: rules[0].hours.off_hours — required key 'off_hours' is missing"),
    ("{warn: null, fail: 0, window: 6h}", "{}",
     "idle.yaml:18: rules[0].hours.off_hours — off_hours changes nothing"),
])
def test_problems_name_file_and_line(tmp_path: Path, old: str, new: str,
                                     expected: str) -> None:
    assert old in RULE_FILE
    with pytest.raises(RuleFileError) as caught:
        load_rules([_write(tmp_path, RULE_FILE.replace(old, new))])
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(str(tmp_path / expected.split(":")[0]))
    assert expected in caught.value.problems[0]


def test_through_the_store_two_zones_one_instant(engine, store_url) -> None:
    """A message queued 40 minutes in each facility's charge channel at 08:00 in New
    York, 05:00 in Los Angeles: New York's working-hours warn (15 min) fires, Los
    Angeles' off-hours warn (120 min) does not."""
    from store.upsert import upsert_records

    now = WED_8AM_NY
    messages = [InterfaceMessage(channel="CHG_OUT", control_id=f"{fac}-1",
                                 message_type="DFT^P03", facility_id=fac,
                                 received_at=now - timedelta(minutes=40),
                                 status=MessageStatus.QUEUED)  # type: ignore[arg-type]
                for fac in ("FAC01", "FAC02")]
    with engine.begin() as conn:
        upsert_records(conn, messages, source="engine-logs", now=now)
    rule = make_rule(id="queue-age", name="Interface queue age", metric="queue_age_minutes",
                     window="15m", warn=15, fail=60, unit="minutes",
                     hours={"working": "Mon-Fri 07:00-19:00", "tz": NY,
                            "facilities": {"FAC02": {"tz": LA}},
                            "off_hours": {"warn": 120, "fail": 240}})
    settings = load_settings(database_url=store_url)
    report = evaluate_and_notify(engine, settings, StoreMetricReader(engine, settings), now,
                                 rules=RuleSet((rule,), (), {rule.id: rule}),
                                 lineage=live_lineage)
    assert report.rule_errors == {}
    with engine.connect() as conn:
        states = {s.scope["facility"]: s for s in load_states(conn).values()}
    assert (states["FAC01"].state, states["FAC01"].level, states["FAC01"].threshold) == (
        State.FIRING, "warn", 15)
    assert (states["FAC02"].state, states["FAC02"].threshold) == (State.OK, 120)
    assert states["FAC02"].detail == {"off_hours": 1.0}
    assert states["FAC01"].value == states["FAC02"].value == pytest.approx(40.0)
