"""Notification policy on hand-built states: grouping per owner, group wait/interval,
repeat, resolve notices, silences, quiet hours, inhibition along lineage, acknowledgement."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from alerting.digest import GroupLog, Workflow, plan_digests
from alerting.evaluation import evaluate
from alerting.policy import Matcher, NotificationPolicy, Silence, StewardPrefs, load_policy
from core.errors import ConfigError
from tests.alerting.factories import T0, TableReader, make_rule, value

NACK = make_rule()
QUEUE = make_rule(id="queue-age", name="Interface queue age", metric="queue_age",
                  tags=["outage"], warn=15, fail=60)
LATENCY = make_rule(id="implant-latency", metric="latency", owner="revenue-cycle",
                    stewards=["rc@example.org"], scope={"by": ["facility"]}, tags=["latency"],
                    warn=90, fail=120, severity="critical")
FRESH = make_rule(id="freshness", metric="freshness", scope={"by": ["source"]},
                  tags=["freshness"], warn=60, fail=120, severity="warning")
RULES = {r.id: r for r in (NACK, QUEUE, LATENCY, FRESH)}
POLICY = NotificationPolicy(group_wait=timedelta(0), group_interval=timedelta(minutes=5),
                            repeat_interval=timedelta(hours=1))
CH1 = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
CH2 = {"facility": "FAC02", "channel": "FAC02_CHG_OUT"}


def states_for(table, at=T0, previous=None, rules=None):
    rules = tuple(RULES.values()) if rules is None else rules
    reader = TableReader({m: [value(m, s, v) for s, v in rows] for m, rows in table.items()})
    return evaluate(list(rules), reader, previous or {}, at).states


FIRING_BOTH = {"nack_rate": [(CH1, 0.1), (CH2, 0.01)], "queue_age": [(CH1, 5)],
               "latency": [({"facility": "FAC01"}, 200)], "freshness": [({"source": "b"}, 1)]}


def test_one_digest_per_owner_and_steward_with_the_owners_alerts() -> None:
    digests, logs = plan_digests(states_for(FIRING_BOTH), RULES, {}, [], POLICY, {}, T0)
    assert [(d.owner, d.recipient, [i.rule.id for i in d.items]) for d in digests] == [
        ("integration", "interfaces@example.org", ["nack-rate"]),
        ("revenue-cycle", "rc@example.org", ["implant-latency"]),
    ]
    assert all(i.kind == "new" for d in digests for i in d.items)
    assert logs[("integration", "interfaces@example.org")].last_sent_at == T0


def test_group_wait_then_group_interval_then_repeat_then_resolve() -> None:
    policy = POLICY.model_copy(update={"group_wait": timedelta(seconds=30)})
    states = states_for(FIRING_BOTH)
    assert plan_digests(states, RULES, {}, [], policy, {}, T0)[0] == []  # waiting for peers
    later = T0 + timedelta(seconds=30)
    digests, logs = plan_digests(states, RULES, {}, [], policy, {}, later)
    assert len(digests) == 2
    # nothing new: no digest until the repeat interval
    assert plan_digests(states, RULES, {}, [], policy, logs, later + timedelta(minutes=30))[0] == []
    again, logs2 = plan_digests(states, RULES, {}, [], policy, logs, later + timedelta(hours=1))
    assert [d.repeat for d in again] == [True, True]
    assert {i.kind for d in again for i in d.items} == {"firing"}
    # a new alert in the group waits for the group interval after the last digest
    at = later + timedelta(hours=1, minutes=2)
    worse = {**FIRING_BOTH, "nack_rate": [(CH1, 0.1), (CH2, 0.5)]}
    states2 = states_for(worse, at, states)
    assert plan_digests(states2, RULES, {}, [], policy, logs2, at)[0] == []
    at5 = at + timedelta(minutes=3)
    digests, logs3 = plan_digests(states2, RULES, {}, [], policy, logs2, at5)
    kinds = sorted((i.kind, i.state.scope["facility"]) for i in digests[0].items)
    assert kinds == [("firing", "FAC01"), ("new", "FAC02")]
    # clean values: the resolve notice goes out once
    clean = {**FIRING_BOTH, "nack_rate": [(CH1, 0.0), (CH2, 0.0)]}
    at6 = at5 + timedelta(minutes=5)
    states3 = states_for(clean, at6, states2)
    digests, logs4 = plan_digests(states3, RULES, {}, [], policy, logs3, at6)
    integration = next(d for d in digests if d.owner == "integration")
    assert [i.kind for i in integration.items] == ["resolved", "resolved"]
    assert logs4[("integration", "interfaces@example.org")].notified == {}
    assert [d for d in plan_digests(states3, RULES, {}, [], policy, logs4,
                                     at6 + timedelta(hours=2))[0]
            if d.owner == "integration"] == []


def test_silence_mutes_matching_alerts_until_it_expires() -> None:
    silence = Silence(1, (Matcher.parse("rule=nack-rate"), Matcher.parse("facility=~FAC0[1]")),
                      T0 - timedelta(hours=1), T0 + timedelta(hours=1), "ann@example.org",
                      "planned engine upgrade")
    states = states_for(FIRING_BOTH)
    digests, _ = plan_digests(states, RULES, {}, [silence], POLICY, {}, T0)
    assert [d.owner for d in digests] == ["revenue-cycle"]
    after = T0 + timedelta(hours=1)
    digests, _ = plan_digests(states, RULES, {}, [silence], POLICY, {}, after)
    assert "integration" in [d.owner for d in digests]


def test_quiet_hours_hold_the_digest_unless_a_critical_fail_overrides() -> None:
    quiet = StewardPrefs(quiet_start=time(20), quiet_end=time(7), timezone="UTC",
                         critical_overrides=True)
    strict = quiet.model_copy(update={"critical_overrides": False})
    night = T0.replace(hour=23)
    states = states_for(FIRING_BOTH, night)
    policy = POLICY.model_copy(update={"stewards": {"interfaces@example.org": quiet,
                                                    "rc@example.org": quiet}})
    digests, _ = plan_digests(states, RULES, {}, [], policy, {}, night)
    # both are critical rules breaching their fail threshold: they override quiet hours
    assert sorted(d.owner for d in digests) == ["integration", "revenue-cycle"]
    policy = POLICY.model_copy(update={"stewards": {"interfaces@example.org": strict,
                                                    "rc@example.org": strict}})
    assert plan_digests(states, RULES, {}, [], policy, {}, night)[0] == []
    morning = night.replace(hour=7) + timedelta(days=1)
    assert len(plan_digests(states, RULES, {}, [], policy, {}, morning)[0]) == 2
    warning_only = {"nack_rate": [(CH1, 0.03)]}  # warn level: waits even with override
    policy = POLICY.model_copy(update={"stewards": {"interfaces@example.org": quiet}})
    assert plan_digests(states_for(warning_only, night), RULES, {}, [], policy, {}, night)[0] == []


def test_outage_inhibits_downstream_freshness_and_latency_and_says_why() -> None:
    policy = POLICY.model_copy(update={"lineage": {
        "channel=FAC01_CHG_OUT": ("source=billing",), "source=billing": ("facility=*",)}})
    table = {"nack_rate": [], "queue_age": [(CH1, 90)],
             "latency": [({"facility": "FAC01"}, 200)],
             "freshness": [({"source": "billing"}, 500), ({"source": "erp"}, 500)]}
    digests, _ = plan_digests(states_for(table), RULES, {}, [], policy, {}, T0)
    by_owner = {d.owner: d for d in digests}
    integ = {(i.rule.id, i.state.scope.get("source", "")): i for i in
             by_owner["integration"].items}
    assert integ[("queue-age", "")].kind == "new"
    assert integ[("freshness", "billing")].kind == "inhibited"
    assert integ[("freshness", "billing")].inhibited_by == (
        "Interface queue age is firing for channel FAC01_CHG_OUT, facility FAC01")
    assert integ[("freshness", "erp")].kind == "new"  # not downstream of the channel
    # the latency owner hears nothing new: its only alert is inhibited
    assert "revenue-cycle" not in by_owner
    # without the outage, the same latency alert is sent
    table["queue_age"] = [(CH1, 1)]
    digests, _ = plan_digests(states_for(table), RULES, {}, [], policy, {}, T0)
    assert "revenue-cycle" in {d.owner for d in digests}


def test_one_facilitys_channel_outage_leaves_the_same_named_channel_of_another_alone(
) -> None:
    """FAC01 and FAC02 each have a DFT_OUT (a channel is named per engine). FAC01's queue
    is an outage: its own volume drop is suppressed, FAC02's DFT_OUT volume drop is sent —
    along the estate's live lineage and the shipped policy's edges."""
    from core.config import SourceConfig
    from metrics.lineage.graph import ChannelObservation, Observations, build_graph, lineage_map

    sources = [SourceConfig(name="engine-logs", kind="hl7_log", path="/x"),
               SourceConfig(name="billing", kind="fhir_billing", base_url="http://b.test")]
    channels = {f"{fac}/DFT_OUT": ChannelObservation("DFT_OUT", fac, "DFT^P03")
                for fac in ("FAC01", "FAC02")}
    graph = build_graph(sources, Observations(channels=channels), T0)
    policy = load_policy().model_copy(update={"group_wait": timedelta(0)}).with_lineage(
        lineage_map(graph))
    queue = make_rule(id="queue-age", name="Interface queue age", metric="queue_age",
                      tags=["outage"], warn=15, fail=60)
    drop = make_rule(id="volume-drop", name="Volume drop", metric="volume", tags=["freshness"],
                     direction="below", warn=-3, fail=-4, severity="warning")
    one, two = ({"facility": fac, "channel": "DFT_OUT"} for fac in ("FAC01", "FAC02"))
    states = states_for({"queue_age": [(one, 90), (two, 1)], "volume": [(one, -5), (two, -5)]},
                        rules=[queue, drop])
    digests, _ = plan_digests(states, {r.id: r for r in (queue, drop)}, {}, [], policy, {}, T0)
    kinds = {(i.rule.id, i.state.scope["facility"]): (i.kind, i.inhibited_by)
             for d in digests for i in d.items}
    assert kinds == {
        ("queue-age", "FAC01"): ("new", ""),
        ("volume-drop", "FAC01"): ("inhibited", "Interface queue age is firing for channel "
                                                "DFT_OUT, facility FAC01"),
        ("volume-drop", "FAC02"): ("new", ""),
    }


def test_a_hand_written_edge_from_a_bare_channel_name_still_applies() -> None:
    """``channel=FAC01_CHG_OUT: [...]`` written before channels were (facility, name) keeps
    working for that name's outage, in whichever facility."""
    policy = POLICY.model_copy(update={"lineage": {"channel=FAC01_CHG_OUT": ("source=b",)}})
    table = {"queue_age": [(CH1, 90)], "freshness": [({"source": "b"}, 500)]}
    digests, _ = plan_digests(states_for(table), RULES, {}, [], policy, {}, T0)
    kinds = {i.rule.id: i.kind for d in digests for i in d.items}
    assert kinds["freshness"] == "inhibited"


def test_acknowledged_alerts_do_not_repeat_but_still_resolve() -> None:
    states = states_for({"nack_rate": [(CH1, 0.1)]}, rules=[NACK])
    digests, logs = plan_digests(states, RULES, {}, [], POLICY, {}, T0)
    fp = digests[0].items[0].state.fingerprint
    acked = {fp: Workflow(ack_by="ann@example.org", ack_at=T0 + timedelta(minutes=1))}
    later = T0 + timedelta(hours=2)
    assert plan_digests(states, RULES, acked, [], POLICY, logs, later)[0] == []
    assert len(plan_digests(states, RULES, {}, [], POLICY, logs, later)[0]) == 1
    clean = states_for({"nack_rate": [(CH1, 0.0)]}, later, states, rules=[NACK])
    digests, _ = plan_digests(clean, RULES, acked, [], POLICY, logs, later)
    assert [i.kind for i in digests[0].items] == ["resolved"]


def test_routes_add_recipients_by_severity() -> None:
    policy = NotificationPolicy.model_validate(
        {"group_wait": "0s", "routes": [{"severity": ["critical"], "add": ["oncall@example.org"]}]})
    digests, _ = plan_digests(states_for({"nack_rate": [(CH1, 0.1)]}, rules=[NACK]), RULES, {},
                              [], policy, {}, T0)
    assert [d.recipient for d in digests] == ["interfaces@example.org", "oncall@example.org"]


def test_group_log_round_trip_keeps_incident_identity() -> None:
    log = GroupLog(T0, {"a": "fail|2026-11-18T10:00:00+00:00"})
    assert log.notified["a"].split("|")[0] == "fail"


@pytest.mark.parametrize("text", ["rule", "rule==x", "facility=~(", ""])
def test_bad_matchers_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError):
        Matcher.parse(text)
