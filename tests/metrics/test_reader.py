"""The store reader answers every catalog metric, with NODATA and ERROR where they apply,
on SQLite and PostgreSQL. Expected numbers follow from ``factories.trap_estate``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert

from core.config import ChargeSla, Settings, SourceConfig
from core.metric_values import ValueStatus
from core.model import ChannelStats, InterfaceMessage, MessageStatus
from metrics.catalog import METRIC_NAMES
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from store.schema import api_calls, collector_runs
from store.upsert import upsert_records
from tests.metrics.factories import T0, at, master_data, trap_estate

NOW = T0 + timedelta(days=2)
WEEK = timedelta(days=7)


@pytest.fixture
def reader(engine: Engine) -> StoreMetricReader:
    with engine.begin() as conn:
        upsert_records(conn, master_data() + trap_estate(), source="test",
                       now=T0 + timedelta(days=1))
    compute(engine, ChargeSla(), now=NOW)
    return StoreMetricReader(engine)


def one(reader: StoreMetricReader, metric: str, scope: tuple[str, ...] = ("facility",),
        window: timedelta = WEEK, **params: str):
    values = reader.values(metric, window=window, scope_keys=scope, now=NOW, params=params)
    assert len(values) == 1, values
    return values[0]


def test_charge_capture_and_leakage(reader: StoreMetricReader) -> None:
    # due: 12 on time, u6 late, u7 missing, u10 and u12 unmapped; u9 is an unknown item
    capture = one(reader, "charge_capture_pct")
    assert capture.scope == {"facility": "FAC01"}
    assert (capture.value, capture.detail) == (75.0, {"numerator": 12.0, "denominator": 16.0})
    assert capture.amount == 1250.0
    assert one(reader, "missing_charges").value == 1
    assert one(reader, "late_charges").value == 1
    assert one(reader, "revenue_leakage_usd").value == 1250.0
    # + failed mappings: IMP2 without crosswalk at cost 300, C3 line without HCPCS 20
    assert one(reader, "revenue_at_risk_usd").value == 1250.0 + 300.0 + 20.0
    within = one(reader, "charge_within_sla_pct")
    assert within.detail == {"numerator": 12.0, "denominator": 13.0}


def test_failed_mappings_by_reason(reader: StoreMetricReader) -> None:
    assert one(reader, "failed_mapping_count").value == 4
    assert one(reader, "failed_mapping_count", reason="no_crosswalk").value == 1
    assert one(reader, "failed_mapping_usd", reason="no_crosswalk").value == 300.0
    assert one(reader, "failed_mapping_count", reason="unknown_item").value == 1
    with pytest.raises(ValueError, match="reason 'nope' unknown"):
        reader.values("failed_mapping_count", window=WEEK, scope_keys=(), now=NOW,
                      params={"reason": "nope"})


def test_duplicates_inventory_and_latency(reader: StoreMetricReader) -> None:
    dup = one(reader, "duplicate_charge_usd")
    assert (dup.value, dup.detail["groups"], dup.detail["extra_units"]) == (2500.0, 2.0, 2.0)
    assert one(reader, "missing_inventory_issues").value == 1  # u13
    assert one(reader, "charged_not_issued").value == 1  # u13 is charged
    assert one(reader, "issued_not_charged").value == 2  # u7 missing, u10 no crosswalk
    assert one(reader, "quantity_mismatches").value == 0
    # charge minutes of the 13 charged scans: 5,5,5,5,8,9,10,10,10,10,10,10,200
    assert one(reader, "charge_latency_p50_minutes").value == 10.0
    assert one(reader, "charge_latency_p95_minutes").value == 200.0
    assert one(reader, "implant_charge_latency_p95_minutes").value == 200.0
    # charge lag in days over the same 13 scans: mean 297 min, p90 the 12th of 13 (10 min)
    lag = one(reader, "charge_lag_days_mean")
    assert (lag.value, lag.detail["denominator"]) == (round(297 / 13 / 1440, 4), 13.0)
    assert one(reader, "charge_lag_days_p90").value == pytest.approx(10 / 1440)
    # late $ (u6's implant, 1250) over the billed $ of surviving, non-duplicate charges
    late = one(reader, "late_charges_usd_pct")
    assert late.detail == {"numerator": 1250.0, "denominator": 6395.0}
    assert late.value == round(100 * 1250 / 6395, 4)
    # a channel is known with its facility, even when only the channel is asked for
    assert one(reader, "received_latency_p50_minutes", ("channel",)).scope == {
        "facility": "FAC01", "channel": "FAC01_CHG_OUT"}


def test_nodata_for_nothing_to_measure(reader: StoreMetricReader) -> None:
    by_class = {v.scope["item_class"]: v for v in reader.values(
        "charge_capture_pct", window=WEEK, scope_keys=("item_class",), now=NOW)}
    assert by_class[""].status is ValueStatus.NODATA  # only the unknown item: none due
    assert by_class["IMPLANT"].status is ValueStatus.OK
    later = NOW + WEEK
    assert reader.values("charge_capture_pct", window=timedelta(hours=1),
                         scope_keys=("facility",), now=later) == []  # no scope seen
    (network,) = reader.values("charge_capture_pct", window=timedelta(hours=1), scope_keys=(),
                               now=later)
    assert network.status is ValueStatus.NODATA


def test_error_when_the_source_behind_is_failing(reader: StoreMetricReader,
                                                 engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(collector_runs).values(
            run_id="r1", source="test", started_at=NOW - timedelta(minutes=5),
            finished_at=NOW - timedelta(minutes=4), status="error",
            error_class="SourceError", error="HTTP 503 from billing"))
    capture = one(reader, "charge_capture_pct")
    assert capture.status is ValueStatus.ERROR and "503" in capture.error
    fresh = one(reader, "freshness_minutes", ("source",))
    assert fresh.status is ValueStatus.ERROR
    assert one(reader, "minutes_since_success", ("source",)).value == pytest.approx(5.0)


def test_freshness_counts_beyond_a_sources_expected_cadence(engine: Engine) -> None:
    """A daily 835 drop whose newest record is 26 h old is 2 h late, not 26; a source
    without a cadence reads its plain age; the cadence never makes a fresh feed negative."""
    with engine.begin() as conn:
        for source, hours in (("billing-835", 26), ("billing", 3), ("erp-daily", 5)):
            conn.execute(insert(collector_runs).values(
                run_id=f"r-{source}", source=source, started_at=NOW - timedelta(minutes=2),
                finished_at=NOW - timedelta(minutes=1), status="ok",
                newest_record_at=NOW - timedelta(hours=hours)))
    sources = [SourceConfig(name="billing-835", kind="x12_files", path="/x12",
                            expected_every_minutes=1440),
               SourceConfig(name="erp-daily", kind="x12_files", path="/erp",
                            expected_every_minutes=1440)]
    reader = StoreMetricReader(engine, Settings(database_url="sqlite://", sources=sources))
    fresh = {v.scope["source"]: v for v in reader.values(
        "freshness_minutes", window=WEEK, scope_keys=("source",), now=NOW)}
    assert fresh["billing-835"].value == pytest.approx(120.0)
    assert fresh["billing-835"].detail["expected_every_minutes"] == 1440.0
    assert fresh["billing"].value == pytest.approx(180.0)
    assert "expected_every_minutes" not in fresh["billing"].detail
    assert fresh["erp-daily"].value == 0.0
    # without the settings (no cadence known) the plain age
    plain = StoreMetricReader(engine).values("freshness_minutes", window=WEEK,
                                             scope_keys=("source",), now=NOW)
    assert {v.scope["source"]: v.value for v in plain}["billing-835"] == pytest.approx(1560.0)


def test_api_health(reader: StoreMetricReader, engine: Engine) -> None:
    rows = [dict(source="billing", endpoint="/ChargeItem", started_at=NOW - timedelta(
        minutes=i + 1), duration_ms=float(10 * (i + 1)), status_code=code, rows=1)
        for i, code in enumerate([200] * 16 + [500, 429, 429, 200])]
    with engine.begin() as conn:
        conn.execute(insert(api_calls), rows)
    window = timedelta(hours=1)
    p95 = one(reader, "api_p95_ms", ("source", "endpoint"), window)
    assert p95.scope == {"source": "billing", "endpoint": "/ChargeItem"}
    assert p95.value == 190.0  # nearest rank 19 of 20
    assert one(reader, "api_error_rate_pct", ("source",), window).value == 15.0
    assert one(reader, "api_throttled", (), window).value == 2


def test_interface_health_and_queue(reader: StoreMetricReader, engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_records(conn, [
            InterfaceMessage(channel="FAC01_CHG_OUT", control_id="MX", message_type="DFT^P03",
                             facility_id="FAC01", received_at=at(300), sent_at=at(301),
                             status=MessageStatus.ERROR, ack_code="AE"),  # type: ignore[arg-type]
            ChannelStats(channel="FAC01_CHG_OUT", facility_id="FAC01", observed_at=NOW -
                         timedelta(minutes=1), received=9, filtered=0, queued=2, sent=7,
                         errored=0, oldest_queued_at=NOW - timedelta(minutes=31))],
            source="engine", now=T0 + timedelta(days=1, hours=1))
    compute(engine, ChargeSla(), now=NOW)
    scope = ("facility", "channel")
    assert one(reader, "messages_received", scope).value == 4
    assert one(reader, "messages_errored", scope).value == 1
    nack = one(reader, "nack_rate_pct", scope)
    assert (nack.value, nack.detail["denominator"]) == (25.0, 4.0)
    hour = timedelta(hours=1)
    assert one(reader, "queue_depth", scope, hour).value == 2
    assert one(reader, "queue_age_minutes", scope, hour).value == pytest.approx(31.0)


def test_volume_anomaly_needs_history_and_a_real_change(engine: Engine) -> None:
    def msg(n: int, day: int) -> InterfaceMessage:
        return InterfaceMessage(channel="C1", control_id=f"D{day}-{n}", message_type="ADT^A04",
                                facility_id="FAC01", received_at=NOW - timedelta(
                                    days=day, minutes=30 + n), status=MessageStatus.SENT)
    with engine.begin() as conn:
        history = [msg(n, d) for d in range(1, 8) for n in range(10)]
        upsert_records(conn, [*history, msg(0, 0), msg(1, 0)], source="engine", now=NOW)
    reader = StoreMetricReader(engine)
    z = one(reader, "volume_anomaly_z", ("facility", "channel"), timedelta(hours=1))
    assert z.value == pytest.approx((2 - 10) / 10 ** 0.5, abs=1e-4)  # sd floor: sqrt(mean)
    with engine.begin() as conn:
        upsert_records(conn, [msg(n, 0) for n in range(2, 8)], source="engine", now=NOW)
    assert one(reader, "volume_anomaly_z", ("channel",), timedelta(hours=1)).value == 0.0
    late = reader.values("volume_anomaly_z", window=timedelta(hours=1),
                         scope_keys=("channel",), now=NOW - timedelta(days=5))
    assert late[0].status is ValueStatus.NODATA  # two days of history only


def test_every_catalog_metric_reads(reader: StoreMetricReader) -> None:
    for metric in sorted(METRIC_NAMES):
        values = reader.values(metric, window=WEEK, scope_keys=(), now=NOW)
        assert all(v.metric == metric and v.scope == {} for v in values), metric


def test_unsupported_scope_is_refused(reader: StoreMetricReader) -> None:
    with pytest.raises(ValueError, match="cannot be split by 'endpoint'"):
        reader.values("charge_capture_pct", window=WEEK, scope_keys=("endpoint",), now=NOW)
