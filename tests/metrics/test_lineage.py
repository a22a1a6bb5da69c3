"""The system graph: built from configuration and observed traffic in the store (SQLite and
PostgreSQL), health per edge, and the lineage map the alerting policy inhibits along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert

from alerting.policy import downstream
from core.config import (
    CHANNEL_TARGETS,
    LineageConfig,
    Settings,
    SourceConfig,
    format_validation_error,
)
from core.model import (
    ChannelStats,
    Charge,
    Facility,
    InterfaceMessage,
    InventoryTransaction,
    InventoryTxnType,
    MessageStatus,
    UsageEvent,
)
from metrics.lineage import data as lineage_store
from metrics.lineage.data import system_graph
from metrics.lineage.graph import (
    SYSTEMS,
    ChannelObservation,
    FacilityFlow,
    LineageGraph,
    Observations,
    SourceObservation,
    build_graph,
    channel_node_id,
    lineage_map,
    route_of,
)
from store.schema import api_calls, collector_runs
from store.upsert import upsert_records

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
CHANNEL = "FAC01_CHG_OUT"
NODE = channel_node_id("FAC01", CHANNEL)  # a channel is (facility, name)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def estate_sources() -> list[SourceConfig]:
    return [
        SourceConfig(name="billing", kind="fhir_billing", base_url="http://rcm.test/fhir"),
        SourceConfig(name="erp", kind="odata_erp", base_url="http://erp.test/odata"),
        SourceConfig(name="ehr-usage", kind="fhir_usage", base_url="http://ehr.test/fhir"),
        SourceConfig(name="engine-logs", kind="hl7_log", path="/var/log/hl7"),
        SourceConfig(name="engine-stats", kind="engine_stats", base_url="http://engine.test"),
    ]


def run_row(n: int, source: str, minutes_ago: float, status: str, error: str = "") -> dict:
    return {"run_id": f"00000000-0000-4000-8000-{n:012d}", "source": source,
            "collector_id": "test", "started_at": ago(minutes_ago),
            "finished_at": ago(minutes_ago - 0.5), "status": status, "records": 0,
            "quarantined": 0, "error_class": "HTTPStatusError" if error else "",
            "error": error, "newest_record_at": ago(minutes_ago + 1)}


def load_estate(engine: Engine) -> None:
    """Billing has failed for 2 hours; the rest is healthy; one NACK in ten messages."""
    runs, n = [], 0
    for source in ("erp", "ehr-usage", "engine-logs", "engine-stats"):
        for minutes in (25, 10, 3):
            n += 1
            runs.append(run_row(n, source, minutes, "ok"))
    runs.append(run_row(100, "billing", 150, "ok"))
    for minutes in (100, 60, 30, 5):
        n += 1
        runs.append(run_row(n, "billing", minutes, "error", "503 Service Unavailable"))
    calls = [{"run_id": r["run_id"], "source": r["source"], "endpoint": "/fhir/ChargeItem",
              "started_at": r["started_at"], "duration_ms": 80.0,
              "status_code": 503 if r["status"] == "error" else 200, "rows": 0,
              "error_class": r["error_class"], "attempt": 1} for r in runs]
    messages = [InterfaceMessage(
        channel=CHANNEL, control_id=f"MSG-{i}", message_type="DFT^P03", facility_id="FAC01",
        encounter_id="ENC1", usage_ids=(f"U{i}",), received_at=ago(50 - i),
        sent_at=ago(49.9 - i), status=MessageStatus.SENT,
        ack_code="AE" if i == 3 else "AA") for i in range(10)]  # type: ignore[arg-type]
    usage = UsageEvent(usage_id="U9", facility_id="FAC01", location_id="FAC01-OR1",
                       encounter_id="ENC1", item_ref="ITM1", quantity=Decimal(1),
                       used_at=ago(45))
    issue = InventoryTransaction(
        document_id="INV1", facility_id="FAC01", location_id="FAC01-OR1", item_id="ITM1",
        txn_type=InventoryTxnType.ISSUE, quantity=Decimal(1), posted_at=ago(30),
        modified_at=ago(30))
    charge = Charge(charge_id="C1", facility_id="FAC01", encounter_id="ENC1", cdm_code="X",
                    quantity=Decimal(1), amount=Decimal(10), service_date=NOW.date(),
                    posted_at=ago(150), last_updated=ago(150))
    stats = ChannelStats(channel=CHANNEL, facility_id="FAC01", observed_at=ago(2), received=10,
                         filtered=0, queued=1, sent=9, errored=0, oldest_queued_at=ago(4))
    with engine.begin() as conn:
        conn.execute(insert(collector_runs), runs)
        conn.execute(insert(api_calls), calls)
        upsert_records(conn, [Facility(facility_id="FAC01", name="General")], source="erp")
        upsert_records(conn, messages, source="engine-logs")
        upsert_records(conn, [usage], source="ehr-usage")
        upsert_records(conn, [issue], source="erp")
        upsert_records(conn, [charge], source="billing")
        upsert_records(conn, [stats], source="engine-stats")


def test_graph_from_config_and_traffic_shows_the_failing_source_down(engine: Engine) -> None:
    load_estate(engine)
    settings = Settings(database_url=str(engine.url), sources=estate_sources())
    graph = system_graph(engine, settings, NOW)

    billing = graph.edge("billing", "chargeline", "billing")
    assert billing.health == "down"
    assert "503 Service Unavailable" in billing.reason and "last success 150 min" in \
        billing.reason
    for source in ("erp", "ehr-usage", "engine-logs", "engine-stats"):
        assert graph.edge(*(("engine", "chargeline") if "engine" in source else (
            {"erp": "erp", "ehr-usage": "ehr"}[source], "chargeline")), source).health == "ok"
    # the channel observed in interface_messages / channel_stats is a node of the engine
    node = graph.node(NODE)
    assert (node.parent, node.facility_id, node.kind) == ("engine", "FAC01", "channel")
    assert graph.edge("ehr", NODE).health == "ok"
    delivery = graph.edge(NODE, "billing")
    assert delivery.health == "degraded"  # 1 NACK in 10 acknowledged, above 2 %
    assert "NACK rate 10.0% of 10" in delivery.reason and "queue 1, oldest 4 min" in \
        delivery.reason
    assert graph.edge("ehr", "erp").health == "ok"  # issue 15 min after the newest scan
    device = graph.edge("device_tracking", "ehr")  # the one scan carries no record time
    assert (device.health, device.reason) == (
        "unknown", "the EHR does not say when it recorded the scans")
    assert graph.node("billing").sources == ("billing",)
    assert graph.node("engine").sources == ("engine-logs", "engine-stats")

    lineage = lineage_map(graph)
    assert lineage["source=billing"] == ["facility=*"]
    # the channel leads to its own facility alone (see lineage_map)
    assert lineage[f"channel=FAC01/{CHANNEL}"] == ["facility=FAC01"]
    assert f"channel=FAC01/{CHANNEL}" in lineage["source=engine-logs"]
    # an engine-log outage reaches the channel and every facility, not billing's collector
    reach = downstream(lineage, ["source=engine-logs"])
    assert {f"channel=FAC01/{CHANNEL}", "facility=FAC01", "facility=*"} <= reach
    assert "source=billing" not in reach
    assert "source=engine-logs" not in downstream(lineage, ["source=billing"])


def test_sources_seen_only_in_the_store_are_drawn_and_unrun_ones_are_unknown(
        engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(collector_runs), [run_row(1, "legacy-rcm", 5, "ok")])
    sources = [SourceConfig(name="erp", kind="odata_erp", base_url="http://erp.test/odata")]
    graph = system_graph(engine, Settings(database_url=str(engine.url), sources=sources), NOW)
    assert graph.edge("erp", "chargeline", "erp").health == "unknown"
    assert graph.edge("erp", "chargeline", "erp").reason == "never collected"
    legacy = graph.edge("billing", "chargeline", "legacy-rcm")  # placed by its name
    assert (legacy.health, legacy.label) == ("ok", "legacy-rcm (not configured)")
    assert graph.edge("ehr", "erp").health == "unknown"  # nothing observed yet


def test_a_blind_engine_makes_its_channels_unknown_not_ok() -> None:
    sources = [SourceConfig(name="engine-logs", kind="hl7_log", path="/x")]
    obs = Observations(
        sources={"engine-logs": SourceObservation(
            "engine-logs", last_status="error", last_run_at=NOW, last_error="OSError: gone",
            last_success_at=NOW - timedelta(hours=3))},
        channels={CHANNEL: ChannelObservation(CHANNEL, "FAC01", "DFT^P03", messages=5,
                                              acked=5, newest_received_at=NOW)})
    graph = build_graph(sources, obs, NOW)
    assert graph.edge("engine", "chargeline").health == "down"
    for edge in (graph.edge("ehr", NODE),
                 graph.edge(NODE, "billing")):
        assert edge.health == "unknown"
        assert "cannot see the Interface engine: engine-logs down" in edge.reason


def test_collect_health_rules() -> None:
    def health(obs: SourceObservation, enabled: bool = True) -> tuple[str, str]:
        config = SourceConfig(name="erp", kind="odata_erp", base_url="http://e.test",
                              enabled=enabled)
        graph = build_graph([config], Observations(sources={"erp": obs}), NOW)
        edge = graph.edge("erp", "chargeline", "erp")
        return edge.health, edge.reason

    fine = SourceObservation("erp", "nodata", ago(2), last_success_at=ago(2),
                             newest_record_at=ago(600))
    assert health(fine)[0] == "ok"  # a quiet feed is not a failing one
    assert "newest record 600 min ago" in health(fine)[1]
    assert health(fine, enabled=False) == ("unknown", "disabled in the configuration")
    stopped = SourceObservation("erp", "ok", ago(30), last_success_at=ago(30))
    assert health(stopped)[0] == "degraded"
    assert health(SourceObservation("erp", "ok", ago(90), last_success_at=ago(90)))[0] == "down"
    flaky = SourceObservation("erp", "error", ago(1), "ReadTimeout", last_success_at=ago(20))
    assert health(flaky)[0] == "degraded"
    throttled = SourceObservation("erp", "ok", ago(1), last_success_at=ago(1), calls=10,
                                  failed_calls=4, throttled=4)
    assert health(throttled)[0] == "degraded" and "4 throttled" in health(throttled)[1]


def test_a_time_a_little_ahead_of_now_reads_just_now_never_minus_zero() -> None:
    config = SourceConfig(name="erp", kind="odata_erp", base_url="http://e.test")
    ahead = SourceObservation("erp", "ok", NOW + timedelta(seconds=20),
                              last_success_at=NOW + timedelta(seconds=20),
                              newest_record_at=NOW + timedelta(seconds=40))
    edge = build_graph([config], Observations(sources={"erp": ahead}), NOW).edge(
        "erp", "chargeline", "erp")
    assert edge.reason == "last run ok just now; newest record just now"
    skewed = SourceObservation("erp", "ok", ago(1), last_success_at=ago(1),
                               newest_record_at=NOW + timedelta(minutes=30))
    edge = build_graph([config], Observations(sources={"erp": skewed}), NOW).edge(
        "erp", "chargeline", "erp")
    assert edge.reason.endswith("newest record 30 min in the future (clock ahead?)")
    queued = ChannelObservation(CHANNEL, "FAC01", queued=1, snapshot_at=NOW,
                                oldest_queued_at=NOW + timedelta(seconds=10))
    graph = build_graph(STATS_ONLY, Observations(channels={"x": queued}), NOW)
    assert "-0" not in delivery_of(graph, CHANNEL)[3]


def test_two_facilities_channels_of_one_name_are_two_nodes(engine: Engine) -> None:
    """FAC02's DFT_OUT rejects every message and its queue is two hours old; FAC01's
    DFT_OUT is fine. Each is its own node with its own health and lineage."""
    messages = [InterfaceMessage(
        channel="DFT_OUT", control_id=f"MSG-{i}", message_type="DFT^P03", facility_id=fac,
        encounter_id="ENC1", usage_ids=(f"U{fac}{i}",), received_at=ago(30 - i),
        sent_at=ago(29.9 - i), status=MessageStatus.SENT,
        ack_code="AR" if fac == "FAC02" else "AA")  # type: ignore[arg-type]
        for fac in ("FAC01", "FAC02") for i in range(5)]  # the same control ids
    stats = [ChannelStats(channel="DFT_OUT", facility_id=fac, observed_at=ago(1), received=5,
                          filtered=0, queued=3 if fac == "FAC02" else 0, sent=5, errored=0,
                          oldest_queued_at=ago(120) if fac == "FAC02" else None)
             for fac in ("FAC01", "FAC02")]
    with engine.begin() as conn:
        upsert_records(conn, messages, source="engine-logs")
        upsert_records(conn, stats, source="engine-stats")
    graph = system_graph(engine, Settings(database_url=str(engine.url),
                                          sources=estate_sources()), NOW)
    one, two = channel_node_id("FAC01", "DFT_OUT"), channel_node_id("FAC02", "DFT_OUT")
    assert [(n.node_id, n.label, n.facility_id) for n in graph.nodes if n.kind == "channel"] \
        == [(one, "DFT_OUT", "FAC01"), (two, "DFT_OUT", "FAC02")]
    assert graph.edge(one, "billing").reason.startswith("NACK rate 0.0% of 5 acknowledged")
    assert graph.edge(two, "billing").health == "down"
    assert "NACK rate 100.0% of 5" in graph.edge(two, "billing").reason
    assert "5 messages" in graph.edge("ehr", one).reason  # its own five, not ten
    lineage = lineage_map(graph)
    assert lineage["channel=FAC01/DFT_OUT"] == ["facility=FAC01"]
    assert lineage["channel=FAC02/DFT_OUT"] == ["facility=FAC02"]
    assert "channel=FAC01/DFT_OUT" not in downstream(lineage, ["channel=FAC02/DFT_OUT"])


def test_scans_reach_the_ehr_health_is_the_p95_lag_of_the_newest_scans() -> None:
    ehr = [SourceConfig(name="ehr-usage", kind="fhir_usage", base_url="http://ehr.test")]

    def health(*lags: tuple[float, ...]) -> tuple[str, str]:
        flows = {f"FAC0{i}": FacilityFlow(f"FAC0{i}", newest_usage_at=NOW, record_lags=one)
                 for i, one in enumerate(lags, start=1)}
        edge = build_graph(ehr, Observations(facilities=flows), NOW).edge("device_tracking",
                                                                          "ehr")
        return edge.health, edge.reason

    quick = tuple([60.0] * 19 + [3600.0])  # one scan documented an hour late: not a fault
    assert health(quick) == ("ok", "p95 scan-to-EHR lag 1 min over the newest 20 scans "
                                   "(worst: FAC01)")
    slow = tuple([1200.0] * 20)
    assert health(quick, slow) == ("degraded", "p95 scan-to-EHR lag 20 min over the newest "
                                               "40 scans (worst: FAC02)")
    assert health(tuple([4000.0] * 20))[0] == "down"
    assert health(()) == ("unknown", "the EHR does not say when it recorded the scans")
    assert build_graph(ehr, Observations(), NOW).edge("device_tracking", "ehr").reason == \
        "no scans seen"
    assert build_graph([], Observations(), NOW).edge("device_tracking", "ehr").reason == \
        "no source reads the EHR"


def test_the_scan_to_ehr_lag_is_read_from_the_newest_scans(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lineage_store, "RECORD_LAG_SCANS", 30)
    usages = [UsageEvent(usage_id=f"U{i}", facility_id="FAC01", location_id="FAC01-OR1",
                         encounter_id="ENC1", item_ref="ITM1", quantity=Decimal(1),
                         used_at=ago(300 - i), recorded_at=ago(300 - i - 3))
              for i in range(30)]
    usages += [UsageEvent(usage_id=f"U-old{i}", facility_id="FAC01", location_id="FAC01-OR1",
                          encounter_id="ENC1", item_ref="ITM1", quantity=Decimal(1),
                          used_at=ago(900 + i), recorded_at=ago(600))  # not among the 30
               for i in range(5)]
    with engine.begin() as conn:
        upsert_records(conn, [Facility(facility_id="FAC01", name="General")], source="erp")
        upsert_records(conn, usages, source="ehr-usage")
    sources = [SourceConfig(name="ehr-usage", kind="fhir_usage", base_url="http://ehr.test")]
    graph = system_graph(engine, Settings(database_url=str(engine.url), sources=sources), NOW)
    edge = graph.edge("device_tracking", "ehr")
    assert (edge.health, edge.reason) == (
        "ok", "p95 scan-to-EHR lag 3 min over the newest 30 scans (worst: FAC01)")


# Where channels deliver: configured, else by message type, else by a name hint, else
# billing assumed (and then never judged by billing's charges).

STATS_ONLY = [SourceConfig(name="billing", kind="fhir_billing", base_url="http://rcm.test"),
              SourceConfig(name="engine-stats", kind="engine_stats",
                           base_url="http://engine.test")]


def channel_graph(channel: str, message_type: str = "",
                  targets: dict[str, Any] | None = None) -> LineageGraph:
    """One channel of FAC01 that delivered just now, its queue empty, while billing has
    posted no charge in FAC01: the no-charge check degrades it whenever it is applied."""
    ch = ChannelObservation(channel, "FAC01", message_type, newest_received_at=ago(1),
                            queued=0, snapshot_at=ago(1))
    obs = Observations(channels={channel: ch},
                       facilities={"FAC01": FacilityFlow("FAC01", newest_usage_at=ago(5))})
    return build_graph(STATS_ONLY, obs, NOW, channel_targets=targets)


def delivery_of(graph: LineageGraph, channel: str) -> tuple[str, str, str, str]:
    edge = next(e for e in graph.edges if e.source.startswith("channel:")
                and graph.node(e.source).label == channel)
    return edge.target, edge.label, edge.health, edge.reason


def test_a_stats_only_channel_goes_where_its_id_points() -> None:
    for channel, target in (("FAC01_SUP_OUT", "erp"), ("FAC01_ERP_OUT", "erp"),
                            ("FAC01-MM-ORDERS", "erp"), ("FAC01_INV_OUT", "erp"),
                            ("FAC01_CHG_OUT", "billing"), ("FAC01_ADT_IN", "billing")):
        assert delivery_of(channel_graph(channel), channel)[:2] == (target, "delivery"), \
            channel
    supply = delivery_of(channel_graph("FAC01_SUP_OUT"), "FAC01_SUP_OUT")
    assert supply[2:] == ("ok", "queue 0, oldest 0 min")  # not judged by charges
    # a named charge channel is billing's, so billing's silence counts against it
    charge = delivery_of(channel_graph("FAC01_CHG_OUT"), "FAC01_CHG_OUT")
    assert charge[2] == "degraded" and "no charge posted in FAC01 yet" in charge[3]
    # whole tokens only: "MM" inside "COMM" and "INV" inside "INVOICE" are no hint
    for channel in ("FAC01_COMM_OUT", "FAC01_INVOICE_OUT"):
        assert delivery_of(channel_graph(channel), channel)[1] == \
            "delivery (destination assumed)", channel


def test_an_unknown_channel_is_assumed_billing_and_not_judged_by_charges() -> None:
    graph = channel_graph("FAC01_XYZ_OUT")
    target, label, health, reason = delivery_of(graph, "FAC01_XYZ_OUT")
    assert (target, label, health) == ("billing", "delivery (destination assumed)", "ok")
    assert reason == ("queue 0, oldest 0 min; destination assumed: billing (no message type "
                      "seen and its id names no system); set lineage.channel_targets")
    assert "no charge" not in reason
    # an id that names two systems says nothing either
    mixed = delivery_of(channel_graph("FAC01_CHG_ERP"), "FAC01_CHG_ERP")
    assert mixed[1:3] == ("delivery (destination assumed)", "ok")
    assert "its id hints at both billing and erp" in mixed[3]
    # with no counters at all the edge stays unknown, the assumption still stated
    bare = build_graph(STATS_ONLY, Observations(channels={"X": ChannelObservation("X")}), NOW)
    assert delivery_of(bare, "X")[2:] == (
        "unknown", "no acknowledgements or counters seen; destination assumed: billing (no "
        "message type seen and its id names no system); set lineage.channel_targets")


def test_configured_targets_win_over_message_type_and_name() -> None:
    glob = {"*_CHG_OUT": "erp"}
    assert delivery_of(channel_graph("FAC01_CHG_OUT", "DFT^P03", glob),
                       "FAC01_CHG_OUT")[:3] == ("erp", "delivery", "ok")
    # an exact id wins over a glob listed before it; globs match in file order
    targets = {"FAC0*": "supplier", "FAC01_CHG_OUT": "erp", "*_OUT": "ehr"}
    assert delivery_of(channel_graph("FAC01_CHG_OUT", "", targets), "FAC01_CHG_OUT")[0] == \
        "erp"
    assert delivery_of(channel_graph("FAC02_CHG_OUT", "", targets), "FAC02_CHG_OUT")[0] == \
        "supplier"
    assert delivery_of(channel_graph("XFAC_CHG_OUT", "", targets), "XFAC_CHG_OUT")[0] == "ehr"
    # configured as billing, an unknown id is judged by billing's charges after all
    billing = delivery_of(channel_graph("FAC01_XYZ_OUT", "", {"FAC01_XYZ_OUT": "billing"}),
                          "FAC01_XYZ_OUT")
    assert billing[1:3] == ("delivery", "degraded")
    # "other" is drawn once a channel delivers there, so the lineage map can place it
    other = channel_graph("FAC01_XYZ_OUT", "", {"FAC01_*": "other"})
    assert other.node("other").label == "Other system"
    assert lineage_map(other)["channel=FAC01/FAC01_XYZ_OUT"] == ["facility=FAC01"]


def test_the_message_type_still_decides_without_configuration() -> None:
    for message_type, target in (("OMS^O05", "erp"), ("RQ^I12", "erp"), ("MFN^M16", "erp"),
                                 ("DFT^P03", "billing"), ("ADT^A08", "billing"),
                                 ("ORU^R01", "billing")):
        ch = ChannelObservation("FAC01_SUP_OUT", message_type=message_type)
        route = route_of(ch)
        assert (route.target, route.by) == (target, "message type"), message_type
    # the message type beats the name hint, and its billing target is judged by charges
    target, label, health, reason = delivery_of(channel_graph("FAC01_SUP_OUT", "DFT^P03"),
                                                "FAC01_SUP_OUT")
    assert (target, label, health) == ("billing", "delivery", "degraded")
    assert reason == "queue 0, oldest 0 min; no charge posted in FAC01 yet"
    assert delivery_of(channel_graph("FAC01_CHG_OUT", "OMS^O05"), "FAC01_CHG_OUT")[:3] == (
        "erp", "delivery", "ok")


def test_a_channel_target_must_be_a_system_of_the_graph() -> None:
    assert set(CHANNEL_TARGETS) <= set(SYSTEMS)
    with pytest.raises(ValidationError) as caught:
        Settings(lineage={"channel_targets": {"FAC01_CHG_OUT": "billing",
                                              "*_SUP_OUT": "supply-chain"}})
    assert format_validation_error(caught.value) == (
        "config lineage.channel_targets (CHARGELINE_LINEAGE__CHANNEL_TARGETS): unknown "
        "system for '*_SUP_OUT': 'supply-chain'; a channel delivers to one of billing, erp, "
        "ehr, supplier, other — e.g. channel_targets: {FAC01_CHG_OUT: billing, "
        "'*_SUP_OUT': erp}")
    with pytest.raises(ValidationError, match="must not be empty"):
        LineageConfig(channel_targets={"": "erp"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        LineageConfig(channel_target={"X": "erp"})  # type: ignore[call-arg]
    assert LineageConfig(channel_targets={"*_SUP_OUT": "erp"}).channel_targets == {
        "*_SUP_OUT": "erp"}


def test_the_store_graph_routes_stats_only_channels_by_the_settings(engine: Engine) -> None:
    stats = [ChannelStats(channel=name, facility_id="FAC01", observed_at=ago(2), received=5,
                          filtered=0, queued=0, sent=5, errored=0)
             for name in ("FAC01_SUP_OUT", "FAC01_ORD_OUT", "FAC01_XYZ_OUT")]
    with engine.begin() as conn:
        upsert_records(conn, stats, source="engine-stats")
    settings = Settings(database_url=str(engine.url), sources=STATS_ONLY,
                        lineage={"channel_targets": {"*_ORD_OUT": "supplier"}})
    graph = system_graph(engine, settings, NOW)
    assert {name: delivery_of(graph, name)[:2] for name in (
        "FAC01_SUP_OUT", "FAC01_ORD_OUT", "FAC01_XYZ_OUT")} == {
        "FAC01_SUP_OUT": ("erp", "delivery"), "FAC01_ORD_OUT": ("supplier", "delivery"),
        "FAC01_XYZ_OUT": ("billing", "delivery (destination assumed)")}
