"""A billing outage seen as the integration team sees it: the interface engine's channel
statistics polled over HTTP every five minutes of estate time, through the simulator's
outages and past them, with the shipped ``interface-queue-age`` rule evaluated at each
poll and the system graph drawn.

What must be seen comes from ``truth.json`` alone (each outage's channel, start, end and
first queued message): the queue age of every channel at every poll is what the truth
gives; the rule fires for a channel only around its outage, at the level its thresholds
give for that age, and has resolved once the queue has drained and ``keep_firing`` has
passed. Where only the message log is collected, the shipped ``messages-held`` rule sees
each outage after the fact, from the ACKs that came late. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from alerting.service import evaluate_and_notify, policy_for
from alerting.workflow import list_alerts
from collectors.runner import run_source
from core.config import ChargeSla, Settings
from core.model import RunStatus
from metrics.catalog import HELD_AFTER_S
from metrics.compute.run import compute
from metrics.lineage.data import live_lineage, system_graph
from metrics.lineage.graph import Thresholds
from metrics.read.reader import StoreMetricReader
from rules.loader import PACK_DIR, RuleSet, load_rules
from tests.collectors.estate_check import sources_for

pytestmark = pytest.mark.slow

RULE_ID = "interface-queue-age"
POLL = timedelta(minutes=5)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _expected_age(outages: list[dict[str, Any]], channel: str, t: datetime) -> float | None:
    """Minutes the oldest message has waited on ``channel`` at ``t`` by the truth; None
    while an outage's queue drains (the oldest left then is not in the truth)."""
    for o in outages:
        if o["channel"] != channel or not o["queued"]:
            continue
        first, end, drained = _at(o["first_queued_at"]), _at(o["end"]), _at(o["last_ack_at"])
        if first <= t < end:
            return (t - first).total_seconds() / 60
        if end <= t < drained:
            return None
    return 0.0


def _polls(outages: list[dict[str, Any]], keep_firing: timedelta) -> list[datetime]:
    """Every five minutes from 20 minutes before each outage to well after it is over,
    in time order (the alerting passes must move forward)."""
    times: set[datetime] = set()
    for o in outages:
        t, stop = _at(o["start"]) - timedelta(minutes=20), _at(o["end"]) + keep_firing + 3 * POLL
        while t <= stop:
            times.add(t)
            t += POLL
    return sorted(times)


def test_billing_outage_raises_queue_age_for_its_channel_alone(engine, store_url,
                                                               estate_factory) -> None:
    running = estate_factory(seed=3, facilities=2, days=2, faults="none", channel_outage=1.0)
    outages = running.truth["outages"]
    assert sum(1 for o in outages if o["queued"]) >= 2, outages  # the estate has outages
    pack = load_rules([PACK_DIR])
    rule = pack.by_id[RULE_ID]
    assert rule.warn is not None and rule.pending >= POLL  # the premises of the checks below
    rules = RuleSet(rules=(rule,), by_id={RULE_ID: rule})
    settings = Settings(database_url=store_url, sources=[
        s for s in sources_for(running, 5.0) if s.kind == "engine_stats"])
    policy = policy_for(settings).model_copy(update={"stewards": {}})
    channels = {f"{f}_{kind}" for f in running.truth["facilities"]
                for kind in ("CHG_OUT", "ADT_IN")}

    polls = _polls(outages, rule.keep_firing)
    th = Thresholds()
    fired: dict[str, list[tuple[datetime, float, str]]] = {c: [] for c in channels}
    try:
        for t in polls:
            running.server.clock = lambda t=t: int(t.timestamp() * 1000)
            result = run_source(settings, engine, settings.sources[0], sleep=lambda _s: None)
            assert result.status is RunStatus.OK, result.error
            ages = {v.scope["channel"]: v.value for v in StoreMetricReader(engine).values(
                rule.metric, window=rule.window, scope_keys=("facility", "channel"), now=t)}
            assert set(ages) == channels, (t, ages)
            for channel in channels:
                want = _expected_age(outages, channel, t)
                if want is not None:  # billing up: acknowledged within seconds
                    assert ages[channel] == pytest.approx(want, abs=0.1 if want else 0.06), \
                        (t, channel)
            # a channel node is channel:<facility>/<name>
            delivery = {e.source.partition("/")[2]: e.health
                        for e in system_graph(engine, settings, t).edges
                        if e.source.endswith("_CHG_OUT") and e.target == "billing"}
            assert set(delivery) == {c for c in channels if c.endswith("_CHG_OUT")}
            for channel, health in delivery.items():
                want = _expected_age(outages, channel, t)
                if want is not None:
                    level = "down" if want >= th.queue_down.total_seconds() / 60 else \
                        "degraded" if want >= th.queue_degraded.total_seconds() / 60 else "ok"
                    assert health == level, (t, channel, want, health)
            report = evaluate_and_notify(engine, settings, StoreMetricReader(engine, settings),
                                         t, rules=rules, policy=policy, lineage=live_lineage)
            assert report.rule_errors == {}
            for alert in list_alerts(engine, states=["firing"], rule_id=RULE_ID):
                fired[alert.scope["channel"]].append((t, alert.value, alert.level))
    finally:
        running.server.clock = None

    for channel, hits in fired.items():
        mine = [o for o in outages if o["channel"] == channel and o["queued"]]
        for t, value, level in hits:  # only while a queue of this channel was old, or
            # within keep_firing of it
            assert any(_at(o["first_queued_at"]) + timedelta(minutes=rule.warn) <= t
                       <= _at(o["last_ack_at"]) + rule.keep_firing + POLL for o in mine), \
                (channel, t)
            if value >= rule.warn:
                assert level == ("fail" if value >= rule.fail else "warn"), (channel, t, value)
        for o in mine:
            first, end = _at(o["first_queued_at"]), _at(o["end"])
            over = [t for t in polls if first + timedelta(minutes=rule.warn) <= t < end]
            # breached at two polls a pending interval apart: it must be firing at the second
            due = [t for t in over if t - rule.pending in over]
            for t in due:
                assert any(h[0] == t and h[1] == pytest.approx((t - first).total_seconds() / 60,
                                                                abs=0.1) for h in hits), \
                    (channel, t, hits)
            after = _at(o["last_ack_at"]) + rule.keep_firing + POLL
            assert not [h for h in hits if h[0] > after and not any(
                _at(p["first_queued_at"]) <= h[0] <= _at(p["end"]) + rule.keep_firing + POLL
                for p in mine if p is not o)], (channel, hits)
    long_enough = [o for o in outages if o["queued"] and
                   _at(o["end"]) - _at(o["first_queued_at"])
                   >= timedelta(minutes=rule.warn) + rule.pending + POLL]
    assert long_enough, outages  # at least one outage the rule must catch
    assert all(fired[o["channel"]] for o in long_enough)


def test_held_messages_rule_sees_each_outage_in_the_message_log_alone(engine, store_url,
                                                                       estate_factory) -> None:
    running = estate_factory(seed=3, facilities=2, days=2, faults="none", channel_outage=1.0)
    outages = sorted((o for o in running.truth["outages"] if o["queued"]),
                     key=lambda o: o["last_ack_at"])
    assert len(outages) >= 2, outages
    rule = load_rules([PACK_DIR]).by_id["messages-held"]
    rules = RuleSet(rules=(rule,), by_id={rule.id: rule})
    settings = Settings(database_url=store_url, sources=[
        s for s in sources_for(running, 5.0) if s.kind == "hl7_log"])
    result = run_source(settings, engine, settings.sources[0], sleep=lambda _s: None)
    assert result.status is RunStatus.OK, result.error
    as_of = _at(running.truth["as_of"])
    compute(engine, ChargeSla(**running.truth["sla"]), full=True, now=as_of)
    policy = policy_for(settings).model_copy(update={"stewards": {}})
    # what each outage held, by the simulator's own records (not the store)
    held = {o["start"]: sum(
        1 for fac in running.estate.facilities for m in fac.messages
        if m.channel == o["channel"] and _at(o["start"]).timestamp() * 1000 <= m.received_ms
        < _at(o["end"]).timestamp() * 1000 and (m.ack_ms or 0) - m.received_ms
        > HELD_AFTER_S * 1000) for o in outages}
    was_firing: dict[str, tuple[float, str]] = {}
    caught = 0
    for o in outages:  # just after the queue drained: the outage's hours are in the window
        t = _at(o["last_ack_at"]).replace(second=0, microsecond=0) + timedelta(minutes=2)
        near = [p for p in outages if p is not o and p["channel"] == o["channel"]
                and t - rule.window - timedelta(hours=1) <= _at(p["end"]) <= t]
        values = {v.scope["channel"]: v.value for v in StoreMetricReader(engine).values(
            rule.metric, window=rule.window, scope_keys=("facility", "channel"), now=t)}
        if not near:
            assert values[o["channel"]] == held[o["start"]], (o, values)
        evaluate_and_notify(engine, settings, StoreMetricReader(engine, settings), t,
                            rules=rules, policy=policy, lineage=live_lineage)
        firing = {a.scope["channel"]: (a.value, a.level)
                  for a in list_alerts(engine, states=["firing"], rule_id=rule.id)}
        if values[o["channel"]] >= rule.warn:
            caught += 1
            value, level = firing[o["channel"]]
            assert value == values[o["channel"]]
            assert level == ("fail" if value >= rule.fail else "warn")
        # Below warn, only an alert already firing may go on (keep_firing starts at the
        # first evaluation that sees the value back down: these passes are hours apart).
        quiet = {c for c, v in values.items() if v < rule.warn}
        assert quiet & set(firing) <= set(was_firing), (t, firing, was_firing)
        was_firing = firing
    assert caught, held  # at least one outage held enough messages to warn
