"""Pure shaping code behind the pages: KPI formulas, health labels, where a trace
stopped, which alert an e-mail link names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerting.workflow import AlertRow
from app.alerts_view import from_link, inbox, silence_matchers
from app.interfaces_view import api_health_label, channel_health_label
from app.kpis import KPI_BY_KEY
from app.trace import Hop, stopped_at
from app.ui import delta_text

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


@pytest.mark.parametrize(("errored", "received", "nack", "age", "label"), [
    (0, 0, None, None, "idle"), (0, 100, 0.0, 0.0, "ok"), (1, 100, 0.0, 0.0, "degraded"),
    (0, 100, 2.5, 0.0, "degraded"), (0, 100, 0.0, 15.0, "degraded"),
    (51, 100, 0.0, 0.0, "down"), (0, 100, 0.0, 60.0, "down"),
])
def test_channel_health(errored, received, nack, age, label) -> None:
    assert channel_health_label(errored, received, nack, age) == label


@pytest.mark.parametrize(("rate", "p95", "failing", "label"), [
    (0.0, 120.0, False, "ok"), (6.0, 120.0, False, "degraded"), (0.0, 2500.0, False, "degraded"),
    (0.0, 120.0, True, "down"), (0.0, None, False, "ok"),
])
def test_api_health(rate, p95, failing, label) -> None:
    assert api_health_label(rate, p95, failing) == label


SCAN = Hop("EHR scan", T, "ok", "U1", "")
RECV = Hop("Engine received", T, "ok", "M1", "")
SENT = Hop("Engine sent", T, "ok", "M1", "ACK AA")
NACK = Hop("Engine sent", T, "error", "M1", "NACK AE bad code")


@pytest.mark.parametrize(("info", "trail", "lane", "words"), [
    ({"mapping_reason": "unknown_item", "mapping_subject": "GTIN-1"}, [SCAN], "EHR scan",
     "unknown item"),
    ({"mapping_reason": "cdm_without_hcpcs", "mapping_subject": "C3", "capture": "missing"},
     [SCAN, RECV, SENT], "Billing charge", "no HCPCS"),
    ({"capture": "missing"}, [SCAN], "Engine received", "never received"),
    ({"capture": "missing"}, [SCAN, RECV, NACK], "Engine sent", "NACK AE"),
    ({"capture": "pending"}, [SCAN, RECV, SENT], "Billing charge", "inside the SLA"),
    ({"capture": "on_time", "inventory": "missing"}, [SCAN, RECV, SENT], "ERP issue",
     "no inventory issue"),
    ({"capture": "late", "inventory": "issued"}, [SCAN, RECV, SENT], "complete", "late"),
])
def test_where_a_transaction_stopped(info, trail, lane, words) -> None:
    where, why = stopped_at(info, trail)
    assert where == lane and words in why


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
