"""Pure shaping code behind the pages: KPI formulas, health labels, where a trace
stopped, which alert an e-mail link names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from alerting.workflow import AlertRow
from app.shaping.alerts import from_link, inbox, silence_matchers
from app.shaping.facilities import facility_label
from app.shaping.interfaces import (
    THRESHOLDS,
    api_health_label,
    channel_health_label,
    channel_label,
    channel_rows,
)
from app.shaping.kpis import KPI_BY_KEY, SUM_COLUMNS
from app.shaping.trace import headline, hops, stopped_at, verdict
from app.ui import delta_style, delta_text
from metrics.read.trace import Hop, Trace

T = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("key", "sums", "shown"), [
    ("capture", {"on_time": 90, "due": 120}, "75.0 %"),
    ("capture", {"on_time": 0, "due": 0}, "–"),
    ("at_risk", {"missing_usd": 1000, "fm_no_crosswalk_usd": 250.4}, "$1,250"),
    ("duplicates", {"dup_usd": 9800}, "$9,800"),
    ("failed_mapping", {"fm_unknown_item_usd": 10, "fm_cdm_without_hcpcs_usd": 5}, "$15"),
    ("inventory", {"inv_accurate": 97, "inv_due": 100}, "97.0 %"),
    ("replenishment", {"repl_hours": 42, "repl_docs": 2}, "21.0 h"),
    ("margin", {"billed_usd": 9800, "supply_cost_usd": 2400}, "$7,400"),
])
def test_kpi_formulas(key: str, sums: dict, shown: str) -> None:
    kpi = KPI_BY_KEY[key]
    assert kpi.format(kpi.value(sums)) == shown


@pytest.mark.parametrize(("now", "before", "unit", "text"), [
    (80.0, 78.5, "%", "+1.5 pts"), (1200.0, 1000.0, "$", "+20.0%"), (5.0, 0.0, "$", None),
    (None, 3.0, "%", None), (3.0, None, "h", None),
])
def test_trend_labels(now, before, unit, text) -> None:
    assert delta_text(now, before, unit) == text


@pytest.mark.parametrize(("now", "before", "unit", "text"), [
    (94.71, 94.74, "%", "±0.0 pts"), (94.74, 94.71, "%", "±0.0 pts"),
    (423_656.0, 423_700.0, "$", "±0.0%"), (21.0, 21.001, "h", "±0.0%"),
    (1000.0, 1000.4, "#", "±0.0%"), (94.6, 94.74, "%", "-0.1 pts"),
])
def test_a_change_that_rounds_to_zero_is_shown_unchanged(now, before, unit, text) -> None:
    shown = delta_text(now, before, unit)
    assert shown == text
    style = delta_style(shown, good_high=True)
    if shown.startswith("±"):  # no arrow, neutral grey
        assert style == {"delta_color": "off", "delta_arrow": "off"}
    else:
        assert style == {"delta_color": "normal", "delta_arrow": "auto"}
    assert delta_style(shown, good_high=False)["delta_color"] in ("off", "inverse")


@pytest.mark.parametrize(("code", "names", "label"), [
    ("FAC01", {"FAC01": "St. Mary Regional Medical Center"}, "St. Mary Regional (FAC01)"),
    ("FAC02", {"FAC02": "Riverside General Hospital"}, "Riverside General (FAC02)"),
    ("FAC03", {"FAC03": "Mercy Heart & Vascular Hospital"}, "Mercy Heart & Vascular (FAC03)"),
    ("FAC01", {"FAC01": "General Hospital"}, "General Hospital (FAC01)"),
    ("FAC09", {}, "FAC09"), ("", {"": "x"}, ""),
])
def test_a_facility_is_named_one_way(code, names, label) -> None:
    assert facility_label(code, names) == label


def test_charts_tables_and_alerts_name_a_facility_alike() -> None:
    from app.charts import kpi_trend
    from app.shaping.alerts import frame, label
    from app.shaping.exceptions import frame as exception_frame
    from app.shaping.overview import facility_table

    names = {"FAC01": "St. Mary Regional Medical Center"}
    want = "St. Mary Regional (FAC01)"
    series = pd.DataFrame({"facility_id": ["FAC01"], "bucket": [T], "value": [95.0]})
    trace = kpi_trend(series, "value", "%", "t", names=names).data[0]
    assert trace.name == want and trace.customdata[0][0] == "FAC01"  # drills by code
    sums = pd.DataFrame([{"facility_id": "FAC01", **{c: 1.0 for c in SUM_COLUMNS}}])
    assert list(facility_table(sums, names)["facility"]) == [want]
    alert = _alert("r", {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}, "firing", 1)
    assert frame([alert], names)["scope"].tolist() == [f"{want} · FAC01_CHG_OUT"]
    assert want in label(alert, names)
    queue = pd.DataFrame([{"kind": "missing_charge", "facility_id": "FAC01", "amount": 1.0,
                           "service_at": T, "status": "open", "assignee": None,
                           "subject": "U-1", "usage_ids": "U-1", "detail": None}])
    assert exception_frame(queue, T, names)["Facility"].tolist() == [want]


@pytest.mark.parametrize(("errored", "received", "nack", "age", "label"), [
    (0, 0, None, None, "idle"), (0, 100, 0.0, 0.0, "ok"), (4, 100, 0.0, 0.0, "ok"),
    (5, 100, 0.0, 0.0, "degraded"), (0, 100, 1.9, 0.0, "ok"), (0, 100, 2.5, 0.0, "degraded"),
    (0, 100, 0.0, 14.9, "ok"), (0, 100, 0.0, 15.0, "degraded"), (50, 100, 0.0, 0.0, "down"),
    (0, 100, 50.0, 0.0, "down"), (0, 100, 0.0, 60.0, "down"),
])
def test_channel_health(errored, received, nack, age, label) -> None:
    assert channel_health_label(errored, received, nack, age) == label


@pytest.mark.parametrize(("rate", "p95", "failing", "label"), [
    (0.0, 120.0, False, "ok"), (4.9, 120.0, False, "ok"), (5.0, 120.0, False, "degraded"),
    (0.0, 2500.0, False, "degraded"), (0.0, 120.0, True, "down"), (0.0, None, False, "ok"),
])
def test_api_health(rate, p95, failing, label) -> None:
    assert api_health_label(rate, p95, failing) == label


SCAN = Hop("usage", "U1", T, detail={"item": "IMP1", "quantity": "1 EA", "location": "OR1"})
RECV = Hop("received", "M1", T, "usage_id", "S", {"channel": "FAC01_CHG_OUT"})
SENT = Hop("sent", "M1", T, "usage_id", "AA")
NACK = Hop("sent", "M1", T, "usage_id", "AE", {"error": "bad code"})
DUP = Hop("charge", "C2", T, "usage_id", "posted", {"cdm": "C1", "amount": "9.00",
                                                    "duplicate_of": "C1",
                                                    "duplicate_key": "usage_id"})


def _trace(stopped: str, hops_: tuple[Hop, ...], capture: str = "", inventory: str = "",
           mapping: str = "") -> Trace:
    return Trace("U1", "E1", "FAC01", hops_, stopped, (), capture, inventory, mapping)


@pytest.mark.parametrize(("trace", "lane", "words"), [
    (_trace("received", (SCAN,), "unmapped", mapping="unknown_item"), "EHR scan",
     "unknown item"),
    (_trace("charge", (SCAN, RECV, SENT), "missing", mapping="cdm_without_hcpcs"),
     "Billing charge", "no HCPCS"),
    (_trace("received", (SCAN,), "missing"), "Engine received", "never received"),
    (_trace("sent", (SCAN, RECV, NACK), "missing"), "Engine sent", "NACK AE bad code"),
    (_trace("charge", (SCAN, RECV, SENT), "pending"), "Billing charge", "inside the SLA"),
    (_trace("", (SCAN, RECV, SENT), "on_time", "missing"), "ERP issue", "no inventory issue"),
    (_trace("", (SCAN, RECV, SENT), "late", "issued"), "complete", "late"),
    (_trace("received", (SCAN,), "not_chargeable", "issued"), "complete", "not chargeable"),
])
def test_where_a_transaction_stopped(trace: Trace, lane: str, words: str) -> None:
    where, why = stopped_at(trace)
    assert where == lane and words in why


@pytest.mark.parametrize(("trace", "level", "words"), [
    # Still inside the SLA is waiting, not failed (issue 19 item 5).
    (_trace("", (SCAN, RECV, SENT), "on_time", "pending"), "waiting", "not posted yet"),
    (_trace("received", (SCAN,), "pending", "pending"), "waiting", "no message"),
    (_trace("charge", (SCAN, RECV, SENT), "pending"), "waiting", "inside the SLA"),
    (_trace("", (SCAN, RECV, SENT), "late", "issued"), "late", "charge was late"),
    (_trace("", (SCAN, RECV, SENT), "on_time", "issued"), "ok", "every hop arrived"),
    (_trace("received", (SCAN,), "missing"), "problem", "never received"),
    # A duplicate names the extra charge to credit, never "every hop arrived" (item 2).
    (_trace("", (SCAN, RECV, SENT, DUP), "on_time", "issued"), "problem",
     "charged twice: credit C2 ($9.00), which repeats C1"),
])
def test_a_verdict_says_how_bad(trace: Trace, level: str, words: str) -> None:
    v = verdict(trace)
    assert v.level == level and words in v.why
    if level == "waiting":
        assert "stopped" not in headline("U1", v)


def test_hops_get_lanes_statuses_and_words() -> None:
    drawn = hops(_trace("", (SCAN, RECV, NACK, DUP), "on_time"))
    assert [(h.lane, h.status) for h in drawn] == [
        ("EHR scan", "ok"), ("Engine received", "ok"), ("Engine sent", "error"),
        ("Billing charge", "duplicate")]
    assert drawn[0].detail == "IMP1 × 1 EA at OR1"
    assert "repeats C1 (same usage_id)" in drawn[3].detail


@pytest.mark.parametrize(("stored", "shown"), [
    ("1.0000 EA", "1 EA"), ("-1.0000 EA", "-1 EA"), ("2.5000", "2.5"), ("12 BX", "12 BX"),
    ("n/a EA", "n/a EA")])
def test_a_hops_quantity_reads_without_the_stores_zeros(stored: str, shown: str) -> None:
    """Issue 19 item 11: the trace read 'ITM-100116 × 1.0000 EA', 'ISSUE -1.0000 EA'."""
    scan = Hop("usage", "U1", T, "", "", {"item": "IMP1", "quantity": stored,
                                          "location": "OR1"})
    issue = Hop("inventory", "I1", T, "usage_id", "ISSUE", {"quantity": stored,
                                                             "item": "IMP1"})
    drawn = hops(_trace("", (scan, issue), "on_time"))
    assert drawn[0].detail == f"IMP1 × {shown} at OR1"
    assert drawn[1].detail == f"ISSUE {shown} IMP1"


def _alert(rule: str, scope: dict[str, str], state: str = "firing", hours: int = 0) -> AlertRow:
    since = T.replace(hour=10 - hours)
    return AlertRow(f"{rule}|{scope}", rule, "integration", scope, state, "warn", 1.0, None,
                    since, since, "", "", "", "", "")


def test_inbox_order_links_and_silences() -> None:
    rows = [_alert("a", {"facility": "F1"}, "resolved", 1), _alert("b", {}, "pending", 2),
            _alert("c", {"facility": "F1", "channel": "X"}, "firing", 3),
            _alert("c", {"facility": "F2", "channel": "X"}, "firing", 1)]
    assert [r.rule_id for r in inbox(rows, include_recent=True, now=T)] == ["c", "c", "b", "a"]
    assert [r.rule_id for r in inbox(rows, include_recent=False, now=T)] == ["c", "c", "b"]
    linked = from_link(rows, {"rule": "c", "facility": "F2", "channel": "X", "window": "7 days"})
    assert linked is rows[3]
    assert from_link(rows, {"rule": "zzz"}) is None
    assert silence_matchers(rows[2]) == ["rule=c", "channel=X", "facility=F1"]


def test_interfaces_page_and_lineage_label_alike() -> None:
    # One channel, one source, the same numbers: the Interfaces page and the lineage graph
    # must not call it healthy in one place and degraded in the other.
    from datetime import timedelta

    from metrics.lineage.graph import ChannelObservation, SourceObservation, _inbound, source_health

    for errored in (0, 4, 5, 49, 50):
        inbound = ChannelObservation("CHG_OUT", "FAC01", messages=100, errored=errored)
        assert _inbound(inbound, THRESHOLDS)[0] == channel_health_label(errored, 100, 0.0, 0.0)
    for failed in (0, 4, 5, 30):
        source = SourceObservation("erp", "ok", T - timedelta(minutes=1), last_success_at=T,
                                   calls=100, failed_calls=failed)
        assert source_health(source, None, T, THRESHOLDS)[0] == api_health_label(
            float(failed), 100.0, False)


def test_the_bucket_still_filling_is_found_and_marked() -> None:
    from datetime import timedelta

    import pandas as pd

    from app.charts import kpi_trend
    from app.shaping.overview import holds_bucket, network_series
    from app.shaping.window import Window, partial_bucket

    day, hour = timedelta(days=1), timedelta(hours=1)
    week = Window(datetime(2026, 11, 19, 3, tzinfo=UTC), datetime(2026, 11, 26, 3, tzinfo=UTC))
    now = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
    assert partial_bucket(week, day, now) == datetime(2026, 11, 26, tzinfo=UTC)
    assert partial_bucket(week, hour, now) == datetime(2026, 11, 26, 2, tzinfo=UTC)
    midnight = Window(datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))
    assert partial_bucket(midnight, day, now) is None  # the window ends with a whole day
    assert partial_bucket(midnight, hour, now) is None

    buckets = ["2026-11-24 00:00:00.000000", "2026-11-25 00:00:00.000000",
               "2026-11-26 00:00:00.000000"]  # as SQLite returns them
    df = pd.DataFrame({"facility_id": ["FAC01"] * 3, "bucket": buckets,
                       "value": [95.0, 96.0, 40.0]})
    filling = datetime(2026, 11, 26, tzinfo=UTC)
    trace = kpi_trend(df, "value", "%", "t", partial=filling).data[0]
    assert list(trace.marker.symbol) == ["circle", "circle", "circle-open"]
    assert [c[1] for c in trace.customdata] == ["", "", " (so far)"]
    bars = kpi_trend(df, "value", "$", "t", partial=filling).data[0]
    assert list(bars.marker.opacity) == [1.0, 1.0, 0.4]
    sums = pd.DataFrame({"bucket": buckets, **{c: [0.0] * 3 for c in SUM_COLUMNS}})
    sums["usages"] = [10.0, 12.0, 1.0]
    usage = KPI_BY_KEY["volume"]
    assert network_series(sums, usage, filling) == [10.0, 12.0]
    assert network_series(sums, usage) == [10.0, 12.0, 1.0]
    # the caption about the filling bucket only where the chart draws it
    assert holds_bucket(df, filling)
    assert not holds_bucket(df.iloc[:2], filling)  # just after midnight: no record yet
    assert not holds_bucket(df, None)


def test_channel_rows_show_the_engine_state_and_a_stopped_channel_without_traffic() -> None:
    """The newest snapshot's state is a column; stopped makes a busy, healthy channel down,
    paused degraded; a stopped channel with no message in the window still has its row
    (its queue from the snapshot), one whose snapshot is older than the window has none."""
    start, end = datetime(2026, 11, 18, 0, tzinfo=UTC), datetime(2026, 11, 18, 12, tzinfo=UTC)
    counts = pd.DataFrame([
        {"facility_id": "FAC1", "channel": ch, "received": 10, "errored": 0, "queued": 0,
         "filtered": 0, "sent": 10, "nacks": 0, "acked": 10, "oldest_queued_hour": None}
        for ch in ("DFT_OUT", "ADT_IN", "ORM_OUT")])
    engine_now = pd.DataFrame([
        {"facility_id": "FAC1", "channel": ch, "observed_at": at, "state": state,
         "queued": q, "oldest_queued_at": oldest}
        for ch, at, state, q, oldest in (
            ("DFT_OUT", end, "stopped", 0, None), ("ADT_IN", end, "paused", 0, None),
            ("ORM_OUT", end, "started", 0, None),
            ("SUP_OUT", end, "stopped", 6, end - timedelta(minutes=20)),
            ("OLD_OUT", start - timedelta(hours=1), "stopped", 0, None))])
    rows = {r["channel"]: r for r in channel_rows(counts, engine_now, pd.DataFrame(), start,
                                                 end, end).to_dict("records")}
    assert {ch: (r["state"], r["health"]) for ch, r in rows.items()} == {
        "DFT_OUT": ("stopped", "down"), "ADT_IN": ("paused", "degraded"),
        "ORM_OUT": ("started", "ok"), "SUP_OUT": ("stopped", "down")}
    assert (rows["SUP_OUT"]["received"], rows["SUP_OUT"]["queued"],
            rows["SUP_OUT"]["queue_age_min"]) == (0, 6, 20)
    # no message at all in the window: the engine's channels alone
    alone = channel_rows(counts.iloc[0:0], engine_now, pd.DataFrame(), start, end, end)
    assert list(alone["channel"]) == ["ADT_IN", "DFT_OUT", "ORM_OUT", "SUP_OUT"]
    # engine snapshots without a state (engine_stats): '' and the traffic's health
    plain = channel_rows(counts, engine_now.drop(columns="state"), pd.DataFrame(), start,
                         end, end)
    assert set(plain["state"]) == {""} and "down" not in set(plain["health"])


def test_channel_rows_keep_two_facilities_channels_of_one_name_apart() -> None:
    """FAC1's and FAC2's DFT_OUT are two rows, each with its own held messages, engine
    queue age and hourly trend; the page names them with their facility."""
    start, end = datetime(2026, 11, 18, 0, tzinfo=UTC), datetime(2026, 11, 18, 12, tzinfo=UTC)
    counts = pd.DataFrame([
        {"facility_id": fac, "channel": "DFT_OUT", "received": n, "errored": 0, "queued": q,
         "filtered": 0, "sent": n - q, "nacks": 0, "acked": n - q,
         "oldest_queued_hour": None}
        for fac, n, q in (("FAC1", 10, 0), ("FAC2", 4, 2))])
    engine_now = pd.DataFrame([{"facility_id": "FAC2", "channel": "DFT_OUT",
                                "oldest_queued_at": end - timedelta(minutes=45)}])
    hourly = pd.DataFrame([{"facility_id": fac, "channel": "DFT_OUT",
                            "hour": end - timedelta(hours=1), "received": n, "nacks": 0}
                           for fac, n in (("FAC1", 10), ("FAC2", 4))])
    held = pd.DataFrame([{"facility_id": "FAC1", "channel": "DFT_OUT",
                          "hour": end - timedelta(hours=1), "held": 3, "wait_minutes": 60.0}])
    rows = channel_rows(counts, engine_now, hourly, start, end, end, held)
    by_fac = {r["facility_id"]: r for r in rows.to_dict("records")}
    assert (by_fac["FAC1"]["held"], by_fac["FAC2"]["held"]) == (3, 0)
    assert (by_fac["FAC1"]["queue_age_min"], by_fac["FAC2"]["queue_age_min"]) == (0, 45)
    assert (by_fac["FAC1"]["trend"][-1], by_fac["FAC2"]["trend"][-1]) == (10, 4)
    assert channel_label("FAC1", "DFT_OUT") == "FAC1/DFT_OUT"
    assert channel_label("FAC01", "FAC01_CHG_OUT") == "FAC01_CHG_OUT"
    assert channel_label("", "DFT_OUT") == "DFT_OUT"


@pytest.mark.parametrize(("code", "label"), [
    ("27447", "27447 · Total knee replacement"), ("99999", "99999"), ("", "–"),
    (" 92928 ", "92928 · Coronary stent placement")])
def test_a_procedure_reads_with_what_it_is(code: str, label: str) -> None:
    from app.shaping.procedures import procedure_label

    assert procedure_label(code) == label


@pytest.mark.parametrize(("n", "text"), [(1, "1 failed call"), (6, "6 failed calls"),
                                         (0, "0 failed calls"), (1200, "1,200 failed calls")])
def test_a_count_agrees_with_its_noun(n: int, text: str) -> None:
    """Issue 19 item 11: the Interfaces page read 'ChargeMaster: 1 failed calls'."""
    from app.shaping.interfaces import counted

    assert counted(n, "failed call") == text
