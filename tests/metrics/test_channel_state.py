"""channel_stopped reads each channel's newest engine snapshot in the window (2 stopped or
in error, 1 paused, 0 running; a facility its worst channel), and the shipped pack's
channel-stopped rule warns on a paused channel and fails on a stopped one, through the
store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from alerting.evaluation import evaluate
from alerting.state import State
from core.metric_values import ValueStatus
from core.model import ChannelStats
from metrics.read.reader import StoreMetricReader
from rules.loader import PACK_DIR, load_rules
from store.upsert import upsert_records

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def snap(facility: str, channel: str, minutes_ago: float, state: str) -> ChannelStats:
    return ChannelStats(channel=channel, facility_id=facility, received=10, filtered=0,
                        queued=0, sent=10, errored=0, state=state,
                        observed_at=NOW - timedelta(minutes=minutes_ago))


def _store(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_records(conn, [
            snap("FAC01", "DFT_OUT", 30, "STOPPED"),  # before the window: not read
            snap("FAC01", "DFT_OUT", 10, "STOPPED"),
            snap("FAC01", "DFT_OUT", 2, "STARTED"),  # started again: the newest wins
            snap("FAC01", "ADT_IN", 3, "PAUSED"),
            snap("FAC02", "DFT_OUT", 4, "STOPPED"),  # the same name, another facility
            snap("FAC02", "SUP_OUT", 4, "ERROR"),
            snap("FAC02", "LOG_ONLY", 4, ""),  # its source says no state: no value
        ], source="mirth", now=NOW)


def test_the_newest_snapshot_in_the_window_says(engine: Engine) -> None:
    _store(engine)
    reader = StoreMetricReader(engine)
    values = reader.values("channel_stopped", window=WINDOW, scope_keys=("facility", "channel"),
                           now=NOW)
    got = {(v.scope["facility"], v.scope["channel"]): v.value for v in values}
    assert got == {("FAC01", "DFT_OUT"): 0.0, ("FAC01", "ADT_IN"): 1.0,
                   ("FAC02", "DFT_OUT"): 2.0, ("FAC02", "SUP_OUT"): 2.0}
    assert {v.status for v in values} == {ValueStatus.OK}
    # ten minutes ago FAC01's DFT_OUT was the stopped one
    earlier = reader.values("channel_stopped", window=WINDOW, scope_keys=("facility", "channel"),
                            now=NOW - timedelta(minutes=5))
    assert {(v.scope["facility"], v.scope["channel"]): v.value for v in earlier} == {
        ("FAC01", "DFT_OUT"): 2.0}
    by_facility = {v.scope["facility"]: v for v in reader.values(
        "channel_stopped", window=WINDOW, scope_keys=("facility",), now=NOW)}
    assert by_facility["FAC01"].value == 1.0 and by_facility["FAC02"].value == 2.0
    assert by_facility["FAC02"].detail == {"numerator": 2.0, "denominator": 2.0,
                                           "paused": 0.0, "stopped": 2.0}


def test_the_pack_rule_warns_paused_and_fails_stopped(engine: Engine) -> None:
    _store(engine)
    (rule,) = [r for r in load_rules([PACK_DIR]).rules if r.id == "channel-stopped"]
    reader = StoreMetricReader(engine)
    first = evaluate([rule], reader, {}, NOW)
    assert first.rule_errors == {}
    assert {s.state for s in first.states.values()} == {State.PENDING, State.OK}
    # still stopped one pending period later (the snapshots are still in the window)
    later = evaluate([rule], reader, first.states, NOW + rule.pending)
    states = {(s.scope["facility"], s.scope["channel"]): (s.state, s.level)
              for s in later.states.values()}
    assert states == {("FAC01", "DFT_OUT"): (State.OK, ""),
                      ("FAC01", "ADT_IN"): (State.FIRING, "warn"),
                      ("FAC02", "DFT_OUT"): (State.FIRING, "fail"),
                      ("FAC02", "SUP_OUT"): (State.FIRING, "fail")}
