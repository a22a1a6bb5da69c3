"""``/metrics`` served on a free loopback port, scraped with httpx and parsed with
prometheus_client's own parser, on SQLite and PostgreSQL: every figure equals the
store's (the reader's KPIs and channel gauges, counts of the feeds, alert states)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, insert, select

from core.config import ChargeSla, Settings
from core.model import ChannelStats, InterfaceMessage, MessageStatus
from metrics.compute.run import compute
from metrics.read.prometheus import CHANNEL_GAUGES, KPI_GAUGES, metric_names, serve_metrics
from metrics.read.reader import StoreMetricReader
from store.schema import api_calls, collector_runs, interface_messages, quarantined_records
from store.schema_alerting import alert_instances
from store.upsert import upsert_records
from tests.metrics.factories import T0, at, master_data, trap_estate

NOW = T0 + timedelta(days=2)
HOURS = 72  # the trap estate lies two days before NOW
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _alert(fingerprint: str, state: str, level: str) -> dict[str, Any]:
    return dict(fingerprint=fingerprint, rule_id=fingerprint.split("|")[0], scope_json="{}",
                state=state, level=level, state_since=NOW, evaluated_at=NOW)


@pytest.fixture
def store(engine: Engine) -> Engine:
    with engine.begin() as conn:
        upsert_records(conn, [*master_data(), *trap_estate(),
                              InterfaceMessage(channel="FAC01_CHG_OUT", control_id="MX",
                                               message_type="DFT^P03", facility_id="FAC01",
                                               received_at=at(300), sent_at=at(301),
                                               status=MessageStatus.ERROR, ack_code="AE"),  # type: ignore[arg-type]
                              ChannelStats(channel="FAC01_CHG_OUT", facility_id="FAC01",
                                           observed_at=NOW - timedelta(minutes=1), received=9,
                                           filtered=1, queued=2, sent=7, errored=3,
                                           oldest_queued_at=NOW - timedelta(minutes=31))],
                       source="test", now=T0 + timedelta(days=1))
        conn.execute(insert(api_calls), [
            dict(source="billing", endpoint="/ChargeItem", started_at=NOW - timedelta(
                minutes=i + 1), duration_ms=float(10 * (i + 1)), status_code=code, rows=1)
            for i, code in enumerate([200] * 16 + [500, 429, 429, 200])])
        conn.execute(insert(collector_runs), [
            dict(run_id="r1", source="billing", started_at=NOW - timedelta(minutes=10),
                 finished_at=NOW - timedelta(minutes=9), status="ok"),
            dict(run_id="r2", source="billing", started_at=NOW - timedelta(minutes=5),
                 finished_at=NOW - timedelta(minutes=4), status="error",
                 error_class="SourceError", error="HTTP 503"),
            dict(run_id="r3", source="erp", started_at=NOW - timedelta(minutes=3),
                 finished_at=NOW - timedelta(minutes=2), status="nodata")])
        conn.execute(insert(quarantined_records), [
            dict(source="engine-tee", position=f"mllp:x@{i}", reason="bad", raw_payload="x",
                 payload_hash=f"h{i}", quarantined_at=NOW) for i in range(3)])
        conn.execute(insert(alert_instances), [
            _alert("a|1", "firing", "fail"), _alert("a|2", "firing", "fail"),
            _alert("b|1", "firing", "warn"), _alert("c|1", "pending", "warn"),
            _alert("d|1", "ok", "")])
    compute(engine, ChargeSla(), now=NOW)
    return engine


@pytest.fixture
def scrape(store: Engine) -> Iterator[Any]:
    settings = Settings(database_url=str(store.url), metrics_window_hours=HOURS)
    server = serve_metrics(settings, store, port=0, host="127.0.0.1", cache_seconds=0,
                           clock=lambda: NOW)

    def get() -> tuple[Samples, dict[str, Any]]:
        answer = httpx.get(server.url, timeout=20)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in families.values() for s in f.samples}
        return samples, families

    yield get
    server.close()


def label(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_kpis_and_channel_gauges_equal_the_stores(store: Engine, scrape: Any) -> None:
    samples, families = scrape()
    assert samples[("chargeline_store_up", ())] == 1
    reader = StoreMetricReader(store)
    window = timedelta(hours=HOURS)
    checked = 0
    for names, scope in ((KPI_GAUGES, ("facility",)), (CHANNEL_GAUGES, ("facility", "channel"))):
        values = reader.many(list(names), window=window, scope_keys=scope, now=NOW)
        for metric, exposed in names.items():
            assert families["chargeline_" + exposed].type == "gauge"
            expected = {label(**{k: v.scope[k] for k in scope}): v.value
                        for v in values[metric] if v.value is not None}
            got = {labels: value for (name, labels), value in samples.items()
                   if name == "chargeline_" + exposed}
            assert got == pytest.approx(expected), metric
            checked += len(expected)
    assert checked >= 15  # the trap estate gives most of them a value
    fac = label(facility="FAC01")
    assert samples[("chargeline_charge_capture_percent", fac)] == reader.values(
        "charge_capture_pct", window=window, scope_keys=("facility",), now=NOW)[0].value
    chan = label(facility="FAC01", channel="FAC01_CHG_OUT")
    assert samples[("chargeline_channel_queue_depth", chan)] == 2
    assert samples[("chargeline_channel_queue_age_minutes", chan)] == pytest.approx(31.0)


def test_channel_counters_count_the_stored_messages(store: Engine, scrape: Any) -> None:
    samples, families = scrape()
    assert families["chargeline_channel_messages"].type == "counter"
    m = interface_messages
    with store.connect() as conn:
        stored = conn.execute(select(m.c.facility_id, m.c.channel, m.c.status, func.count())
                              .group_by(m.c.facility_id, m.c.channel, m.c.status)).all()
    assert len(stored) >= 2
    totals: dict[tuple[str, str], int] = {}
    for facility, channel, status, n in stored:
        totals[(facility, channel)] = totals.get((facility, channel), 0) + n
        name = MessageStatus(status).name.lower()
        assert samples[("chargeline_channel_messages_by_status",
                        label(facility=facility, channel=channel, status=name))] == n
    for (facility, channel), n in totals.items():
        assert samples[("chargeline_channel_messages_total",
                        label(facility=facility, channel=channel))] == n
    chan = label(facility="FAC01", channel="FAC01_CHG_OUT")
    assert samples[("chargeline_channel_nacked_messages", chan)] >= 1
    assert samples[("chargeline_engine_channel_received_total", chan)] == 9
    assert samples[("chargeline_engine_channel_errored_total", chan)] == 3
    assert samples[("chargeline_engine_channel_queued", chan)] == 2


def test_source_health_and_alert_states(scrape: Any) -> None:
    samples, _ = scrape()
    ep = label(source="billing", endpoint="/ChargeItem")
    assert samples[("chargeline_api_calls_total", ep)] == 20
    assert samples[("chargeline_api_errors_total", ep)] == 3  # a 500 and two 429s
    assert samples[("chargeline_api_throttled_total", ep)] == 2
    assert samples[("chargeline_api_p95_milliseconds", ep)] == 190.0  # nearest rank 19/20
    billing, erp = label(source="billing"), label(source="erp")
    assert samples[("chargeline_source_up", billing)] == 0  # its newest run failed
    assert samples[("chargeline_source_up", erp)] == 1
    assert samples[("chargeline_source_last_success_timestamp_seconds", billing)] == (
        NOW - timedelta(minutes=9)).astimezone(UTC).timestamp()
    assert samples[("chargeline_quarantined_records_total", label(source="engine-tee"))] == 3
    assert samples[("chargeline_alerts", label(state="firing", level="fail"))] == 2
    assert samples[("chargeline_alerts", label(state="firing", level="warn"))] == 1
    assert samples[("chargeline_alerts", label(state="pending", level="warn"))] == 1
    assert samples[("chargeline_alerts", label(state="ok", level=""))] == 1


def test_every_family_exposed_is_a_documented_name(scrape: Any) -> None:
    samples, families = scrape()
    exposed = {name for name, _ in samples}
    assert exposed <= metric_names() | {n.removesuffix("_total") + "_created"
                                        for n in metric_names()}
    assert all(f.documentation for f in families.values())


def test_a_store_that_cannot_be_read_says_so(tmp_path: Any) -> None:
    from store.engine import make_engine

    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated: no tables
    server = serve_metrics(Settings(database_url=str(broken.url)), broken, port=0,
                           host="127.0.0.1", cache_seconds=0)
    try:
        families = list(text_string_to_metric_families(httpx.get(server.url, timeout=20).text))
    finally:
        server.close()
        broken.dispose()
    assert [(f.name, f.samples[0].value) for f in families] == [("chargeline_store_up", 0)]
