"""A channel is (facility, channel name): two facilities' engines that both log to a
DFT_OUT, with control ids that repeat, are two channels from the log files to the alert
instances (SQLite and PostgreSQL). A message whose MSH-4 is empty has facility "".

The path is the real one: the hl7_log collector over log files, a full metrics pass, the
metric reader, the report and the rule evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from alerting.evaluation import evaluate
from collectors.mapping import load_mapping
from collectors.plugins.engine_stats import parse_channels
from collectors.runner import run_source
from core.config import ChargeSla, Settings, SourceConfig
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.report_data import build_report
from rules.model import Rule
from store.schema import interface_messages, message_usages
from store.upsert import upsert_records

T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
DAY = timedelta(days=1)


def _ts(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y%m%d%H%M%S.000+0000")


def dft(facility: str, n: int, minute: int) -> str:
    """A DFT^P03 from ``facility``'s EHR (MSH-4; empty for none), control id MSG-<n>: the
    same control ids at every facility."""
    usage = f"U-{facility or 'NONE'}-{n}"
    return (f"MSH|^~\\&|EHR|{facility}|BILLING|{facility}|{_ts(minute)}||DFT^P03|MSG-{n}|P|2.5\r"
            f"EVN|P03|{_ts(minute)}\r"
            f"PID|1||MRN{n}^^^{facility}^MR||DOE^JANE||19700101|F\r"
            f"PV1|1|I|{facility}-OR1||||||||||||||||ENC-{facility}-{n}\r"
            f"FT1|1|{usage}||{_ts(minute)}||CG|2780001713|||1|25.00||{facility}-OR1\r"
            f"ZUS|1|{usage}|ITM-1|EA|||\r\n")


def ack(facility: str, n: int, minute: int, code: str = "AA") -> str:
    """Billing's ACK, addressed back to the facility that sent the message (MSH-6)."""
    return (f"MSH|^~\\&|BILLING|RCM|EHR|{facility}|{_ts(minute)}||ACK^P03|ACK-{n}|P|2.5\r"
            f"MSA|{code}|MSG-{n}|{'' if code == 'AA' else 'rejected'}\r\n")


def write(path: Path, *blocks: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("".join(blocks))


def poll(engine: Engine, root: Path) -> None:
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(root))
    settings = Settings(database_url=str(engine.url), sources=[source])
    assert run_source(settings, engine, source).status is RunStatus.OK


def stored(engine: Engine) -> dict[tuple[str, str], str]:
    m = interface_messages
    with engine.connect() as conn:
        return {(r.facility_id, r.control_id): r.status for r in conn.execute(
            select(m.c.facility_id, m.c.control_id, m.c.status).where(m.c.channel == "DFT_OUT"))}


def rule(**scope: object) -> Rule:
    return Rule.model_validate({
        "id": "dft-out-volume", "name": "DFT_OUT traffic", "metric": "messages_received",
        "scope": scope, "window": "1d", "fail": 1, "owner": "integration",
        "stewards": ["interfaces@example.org"], "description": "any traffic at all"})


def test_two_facilities_dft_out_are_two_channels(engine: Engine, tmp_path: Path) -> None:
    logs = tmp_path / "DFT_OUT"
    write(logs / "fac1.hl7", dft("FAC1", 1, 0), ack("FAC1", 1, 1), dft("FAC1", 2, 5),
          ack("FAC1", 2, 6), dft("FAC1", 3, 10), ack("FAC1", 3, 11, "AE"))
    write(logs / "fac2.hl7", dft("FAC2", 1, 2), ack("FAC2", 1, 3), dft("FAC2", 2, 7))
    write(logs / "nofac.hl7", dft("", 1, 4))
    poll(engine, tmp_path)
    # FAC2's MSG-2 is acknowledged in a later read (rejected); FAC1's MSG-2, the same
    # control id in the same channel folder, keeps its own ACK.
    write(logs / "fac2.hl7", ack("FAC2", 2, 20, "AR"))
    poll(engine, tmp_path)

    assert stored(engine) == {
        ("FAC1", "MSG-1"): "S", ("FAC1", "MSG-2"): "S", ("FAC1", "MSG-3"): "E",
        ("FAC2", "MSG-1"): "S", ("FAC2", "MSG-2"): "E",
        ("", "MSG-1"): "Q",
    }
    mu = message_usages
    with engine.connect() as conn:
        links = dict(conn.execute(select(mu.c.facility_id, func.count())
                                  .group_by(mu.c.facility_id)).all())
    assert links == {"FAC1": 3, "FAC2": 2, "": 1}

    compute(engine, ChargeSla(), full=True, now=NOW)
    reader = StoreMetricReader(engine, sla=ChargeSla())

    def by_channel(metric: str, keys: tuple[str, ...] = ("channel",)) -> dict:
        values = reader.values(metric, window=DAY, scope_keys=keys, now=NOW)
        return {(v.scope["facility"], v.scope["channel"]): v.value for v in values}

    assert by_channel("messages_received") == {
        ("FAC1", "DFT_OUT"): 3, ("FAC2", "DFT_OUT"): 2, ("", "DFT_OUT"): 1}
    assert by_channel("messages_received", ("facility", "channel")) == by_channel(
        "messages_received")
    assert by_channel("messages_errored") == {
        ("FAC1", "DFT_OUT"): 1, ("FAC2", "DFT_OUT"): 1, ("", "DFT_OUT"): 0}
    nack = by_channel("nack_rate_pct")
    assert (nack[("FAC1", "DFT_OUT")], nack[("FAC2", "DFT_OUT")]) == (
        round(100 / 3, 4), 50.0)
    # without engine statistics the queue is the log's queued messages: only the
    # unknown facility's MSG-1 waits (FAC1's and FAC2's MSG-1 were acknowledged)
    assert by_channel("queue_depth") == {("", "DFT_OUT"): 1}

    doc = build_report(engine, ChargeSla(), since=NOW - DAY, until=NOW)
    channels = {key: (c["facility"], c["channel"], c["messages_received"],
                      c["messages_errored"]) for key, c in doc["channels"].items()}
    assert channels == {"FAC1/DFT_OUT": ("FAC1", "DFT_OUT", 3, 1),
                        "FAC2/DFT_OUT": ("FAC2", "DFT_OUT", 2, 1),
                        "/DFT_OUT": ("", "DFT_OUT", 1, 0)}
    one = build_report(engine, ChargeSla(), since=NOW - DAY, until=NOW, facility="FAC2")
    assert list(one["channels"]) == ["FAC2/DFT_OUT"]

    every = evaluate([rule(match={"channel": "DFT_OUT"})], reader, {}, NOW)
    assert sorted(s.scope["facility"] for s in every.states.values()) == ["", "FAC1", "FAC2"]
    assert all(s.scope["channel"] == "DFT_OUT" for s in every.states.values())
    assert sorted(evaluate([rule(by=["channel"])], reader, {}, NOW).states) == sorted(
        every.states)
    fac1 = evaluate([rule(match={"facility": "FAC1", "channel": "DFT_OUT"})], reader, {}, NOW)
    assert [s.scope for s in fac1.states.values()] == [{"facility": "FAC1",
                                                         "channel": "DFT_OUT"}]


def test_engine_snapshots_of_two_facilities_dft_out_are_two_queues(engine: Engine) -> None:
    """Two engines report a DFT_OUT at the same instant: both snapshots are kept, and
    each facility's queue is its own."""
    snaps = [parse_channels({"generatedAt": (NOW - timedelta(minutes=5)).isoformat(),
                             "channels": [
        {"channelId": "DFT_OUT", "facilityId": fac, "oldestQueuedAt": (
            NOW - timedelta(minutes=age)).isoformat() if queued else None,
         "statistics": {"received": 10, "filtered": 0, "queued": queued, "sent": 10 - queued,
                        "errored": 0}}]}, load_mapping("engine_stats", "")["channels"], "test")
        for fac, queued, age in (("FAC1", 4, 30), ("FAC2", 0, 0))]
    with engine.begin() as conn:
        upsert_records(conn, [r for records, _, _ in snaps for r in records],
                       source="engine-stats")
    reader = StoreMetricReader(engine, sla=ChargeSla())
    depth = reader.values("queue_depth", window=DAY, scope_keys=("channel",), now=NOW)
    age = reader.values("queue_age_minutes", window=DAY, scope_keys=("channel",), now=NOW)
    assert {v.scope["facility"]: v.value for v in depth} == {"FAC1": 4, "FAC2": 0}
    assert {v.scope["facility"]: v.value for v in age} == {"FAC1": 30, "FAC2": 0}
