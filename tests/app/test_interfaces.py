"""The triage page: Mirth-style counters per channel from the metric points, API health
and freshness, the failing source called out, links to the failing messages."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from tests.app.conftest import links, signed_in


def _channel_rows(at) -> dict[str, dict]:
    for df in at.dataframe:
        table = df.value
        if "channel" in table.columns and "received" in table.columns:
            return {row["channel"]: row for row in table.to_dict("records")}
    raise AssertionError("no channel table on the page")


def test_channel_counters_match_the_seeded_traffic(seeded) -> None:
    truth = seeded.truth
    at = signed_in("interface_owner").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Interfaces"
    rows = _channel_rows(at)
    for fac in ("FAC01", "FAC02"):
        row = rows[f"{fac}_CHG_OUT"]
        nacked = {c for c in truth.nacked if c.startswith(f"MSG-{fac}")}
        sent = {u for u, c in truth.messages.items() if u.startswith(f"U-{fac}")}
        assert row["received"] == len(sent) + len(nacked)
        assert row["errored"] == len(nacked)
        assert row["queued"] == len({q for q in truth.queued if fac in q})
        assert row["held"] == len({h for h in truth.held if fac in h}) > 0
        assert row["health"] == "degraded"  # NACK rate over 2 %
        assert rows[f"{fac}_ADT_IN"]["health"] == "ok"
    assert any("erp: last run failed" in e.value for e in at.error)
    errored = [p for label, page, p in links(at) if page == "drilldown"
               and p.get("status") == ["E"]]
    assert {p["channel"][0] for p in errored} == {"FAC01_CHG_OUT", "FAC02_CHG_OUT"}
    held = [p for label, page, p in links(at) if page == "drilldown"
            and p.get("dataset") == ["held"]]
    assert {p["channel"][0] for p in held} == {f"{c.split('-')[1]}_CHG_OUT"
                                               for c in truth.held}


def test_api_endpoints_show_p95_and_the_down_source(seeded_sqlite) -> None:
    at = signed_in("interface_owner").run()
    apis = [df.value for df in at.dataframe if "endpoint" in df.value.columns]
    endpoints = {(r["source"], r["endpoint"]): r for t in apis for r in t.to_dict("records")}
    assert endpoints[("erp", "InventoryTransactions")]["health"] == "down"
    assert endpoints[("billing", "ChargeItem")]["p95_ms"] > 100
    assert len(endpoints[("billing", "ChargeItem")]["trend"]) == 48


def _values(array: Any) -> list[Any]:
    """A Plotly spec's data array: a list, or a typed array ({dtype, bdata})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_held_messages_per_hour_show_when_billing_acknowledged_late(seeded) -> None:
    """The seeded messages billing acknowledged 40 minutes late, counted in the hour they
    were received, per channel; the caption gives their number."""
    truth = seeded.truth
    at = signed_in("interface_owner").run()
    assert not at.exception, at.exception
    assert any(f"{len(truth.held):,} messages waited more than 5 minutes" in c.value
               for c in at.caption)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    held = next(c for c in charts if c["layout"]["yaxis"]["title"]["text"]
                == "messages held / hour")
    shown = {(trace["name"], pd.Timestamp(x).floor("h")): y for trace in held["data"]
             for x, y in zip(_values(trace["x"]), _values(trace["y"]), strict=True)}
    assert sum(shown.values()) == len(truth.held)
    assert {channel for channel, _ in shown} == {f"{c.split('-')[1]}_CHG_OUT"
                                                 for c in truth.held}


def _drill_count(params: dict[str, list[str]]) -> int:
    """How many records the drill-down page shows for a link's parameters."""
    import re

    at = signed_in("interface_owner")
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("views/drilldown.py").run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    found = re.search(r"\*\*([\d,]+)\*\* ", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_every_drill_link_opens_exactly_the_records_its_number_counts(seeded) -> None:
    """Issue 19 item 3: 'failed calls' opened every call, mostly HTTP 200; a channel's
    'errored, queued' opened only one of the two."""
    import re

    at = signed_in("interface_owner")
    at.switch_page("views/interfaces.py").run()
    assert not at.exception, at.exception
    drills = [(label, q) for label, page, q in links(at) if page.startswith("drilldown")]
    assert any("failed call" in label for label, _ in drills)
    for label, params in drills:
        figure = int(re.search(r": ([\d,]+) ", label).group(1).replace(",", ""))
        assert _drill_count(params) == figure, label


def test_a_stopped_and_a_paused_channel_stand_out(seeded) -> None:
    """The engine says FAC01's charge channel is stopped, FAC02's paused, and a supply
    channel with no message in the log stopped: each row says its state, is down or
    degraded and comes first, and a stopped channel is called out above the table."""
    from core.model import ChannelStats
    from store.upsert import upsert_records

    end = seeded.truth.end

    # The snapshots replace the estate's own (same key), so the charge channels keep its
    # queue: one message waiting 35 min. Without it the page falls back to the queued
    # message's hour, and the age would depend on the minute the suite ran in.
    def snap(fac: str, channel: str, state: str, queued: int = 0) -> ChannelStats:
        return ChannelStats(channel=channel, facility_id=fac, observed_at=end, received=50,
                            filtered=0, queued=queued, sent=50 - queued, errored=0,
                            state=state, waiting_connectors=int(queued > 0),
                            oldest_queued_at=end - timedelta(minutes=35) if queued else None)
    with seeded.engine.begin() as conn:
        upsert_records(conn, [snap("FAC01", "FAC01_CHG_OUT", "STOPPED", queued=1),
                              snap("FAC02", "FAC02_CHG_OUT", "PAUSED", queued=1),
                              snap("FAC01", "FAC01_SUP_OUT", "STOPPED", queued=6),
                              snap("FAC02", "FAC02_ADT_IN", "STARTED")],
                       source="mirth", now=end)
    at = signed_in("interface_owner").run()
    assert not at.exception, at.exception
    rows = _channel_rows(at)
    assert {ch: (r["state"], r["health"]) for ch, r in rows.items() if r["state"]} == {
        "FAC01_CHG_OUT": ("stopped", "down"), "FAC02_CHG_OUT": ("paused", "degraded"),
        "FAC01_SUP_OUT": ("stopped", "down"), "FAC02_ADT_IN": ("started", "ok")}
    assert (rows["FAC01_SUP_OUT"]["received"], rows["FAC01_SUP_OUT"]["queued"]) == (0, 6)
    assert rows["FAC01_ADT_IN"]["state"] == ""  # no engine snapshot: not said
    table = next(df.value for df in at.dataframe if "state" in df.value.columns)
    assert list(table["health"])[:2] == ["down", "down"]
    assert any("FAC01_CHG_OUT is stopped in the interface engine" in e.value
               for e in at.error)
    assert any("FAC01_SUP_OUT is stopped" in e.value for e in at.error)
    assert any("FAC02_CHG_OUT is paused" in w.value for w in at.warning)
