"""From the demo estate to the stewards' mailboxes: a faulty estate served over HTTP is
collected, its metrics computed in the store, the shipped rule pack evaluated through the
store's metric reader, and the digests delivered to a real SMTP server on loopback.

Which alerts must fire is derived from the simulator's ``truth.json`` (the faults it
injected, per facility) and the pack's own thresholds, never written down here: every
count-based rule of the pack fires exactly for the facilities the truth says, at the level
its warn/fail thresholds give for the truth's count or dollars, and each of those rules'
stewards (plus the policy's routes) gets a digest naming it. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.outbox import dispatch
from alerting.service import evaluate_and_notify, notify, policy_for
from alerting.workflow import list_alerts
from collectors.runner import run_source
from core.config import Settings
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.lineage.data import live_lineage
from metrics.read.reader import StoreMetricReader
from rules.loader import PACK_DIR, load_rules
from tests.alerting.smtp_server import RecordingHandler, free_port, start
from tests.collectors.estate_check import sources_for

pytestmark = pytest.mark.slow

# The estate ends on a whole minute just before the wall clock, so the collector runs (at
# wall-clock time) are fresh when the rules look back from the estate's end.
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)


def _usages(kind: str) -> Callable[[list[dict[str, Any]]], float]:
    return lambda faults: float(sum(len(f["usage_ids"]) for f in faults if f["kind"] == kind))


def _rows(kind: str) -> Callable[[list[dict[str, Any]]], float]:
    return lambda faults: float(sum(1 for f in faults if f["kind"] == kind))


# rule id in the pack -> its number for one facility, from that facility's truth faults
FROM_TRUTH: dict[str, Callable[[list[dict[str, Any]]], float]] = {
    "failed-mapping-unknown-item": _rows("unknown_item"),
    "failed-mapping-unit": _rows("unit_not_convertible"),
    "failed-mapping-no-crosswalk": _usages("no_crosswalk"),
    "failed-mapping-cdm-without-hcpcs": _usages("cdm_without_hcpcs"),
    "missing-inventory-issues": _rows("missing_inventory_issue"),
    "duplicate-charges-usd": lambda faults: round(sum(
        f["overcharge"] for f in faults if f["kind"] == "duplicate_charge"), 2),
}


def _level(rule: Any, number: float) -> str:
    if number >= rule.fail:
        return "fail"
    return "warn" if rule.warn is not None and number >= rule.warn else ""


def expected_alerts(truth: dict[str, Any], pack: Any) -> dict[tuple[str, str], tuple[float, str]]:
    """(rule id, facility) -> (value, level) for every derivable rule that must fire."""
    by_facility: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fault in truth["faults"]:
        by_facility[fault["facility_id"]].append(fault)
    out = {}
    for rule_id, number_of in FROM_TRUTH.items():
        rule = pack.by_id[rule_id]
        for facility in truth["facilities"]:
            number = number_of(by_facility[facility])
            if _level(rule, number):
                out[(rule_id, facility)] = (number, _level(rule, number))
    return out


def test_faulty_estate_to_stewards_mailboxes(engine, store_url, estate_factory) -> None:
    running = estate_factory(facilities=2, days=1, faults="default", volume_scale=0.2,
                             end=END)
    port = free_port()
    settings = Settings(database_url=store_url, sources=sources_for(running, 5.0),
                        dashboard_url="http://chargeline.example:8501",
                        smtp={"host": "127.0.0.1", "port": port, "timeout_seconds": 5,
                              "sender": "chargeline@hospital.example"})
    results = [run_source(settings, engine, s, sleep=lambda _s: None) for s in settings.sources]
    assert [r.status for r in results] == [RunStatus.OK] * 5, [r.error for r in results]
    now = END
    compute(engine, settings.sla, full=True, now=now)

    pack = load_rules([PACK_DIR])
    expected = expected_alerts(running.truth, pack)
    assert len({rule for rule, _ in expected}) >= 4, expected  # the estate has those faults
    # the shipped policy, without the stewards' quiet hours (the estate ends at any hour)
    policy = policy_for(settings).model_copy(update={"stewards": {}})
    report = evaluate_and_notify(engine, settings, StoreMetricReader(engine, settings), now,
                                 rules=pack, policy=policy, lineage=live_lineage)
    assert report.rule_errors == {}  # every pack rule reads its metric from the store
    if policy.group_wait.total_seconds() > 0:
        assert report.queued == 0  # the group waits for its peers first ...
    queued = notify(engine, settings, now + policy.group_wait, rules=pack, policy=policy,
                    lineage=live_lineage)
    assert queued > 0  # ... then one digest per owner and steward goes out

    firing = {(a.rule_id, a.scope.get("facility", "")): (a.value, a.level)
              for a in list_alerts(engine, states=["firing"])}
    derived = {k: v for k, v in firing.items() if k[0] in FROM_TRUTH}
    assert derived.keys() == expected.keys()
    for key, (number, level) in expected.items():
        assert derived[key][0] == pytest.approx(number), key
        assert derived[key][1] == level, key

    handler = RecordingHandler()
    server = start(handler, port)
    try:
        sent = dispatch(engine, settings, now + policy.group_wait)
    finally:
        server.stop()
    assert sent.sent == queued and sent.dead == 0

    texts: dict[str, str] = {}
    per_recipient_owner = Counter()
    for msg in handler.messages:
        body = msg.get_body(("plain",)).get_content()
        texts[msg["To"]] = texts.get(msg["To"], "") + body
        per_recipient_owner[(msg["To"], msg["Subject"].split(":")[0])] += 1
    assert max(per_recipient_owner.values()) == 1  # one digest per owner and steward
    for (rule_id, facility), (number, _level) in expected.items():
        rule = pack.by_id[rule_id]
        for steward in policy.recipients(rule.owner, rule.severity, rule.stewards):
            text = texts.get(steward, "")
            assert f"{rule.name} — facility {facility}" in text, (steward, rule_id, facility)
            if rule.unit == "USD":  # the dollars, as the stewards read them
                assert f"value ${number:,.2f}" in text
            link = f"{settings.dashboard_url}/alerts?facility={facility}&rule={rule_id}"
            assert link in text
    told = set(texts)
    allowed = {s for (rule_id, _f) in firing for s in policy.recipients(
        pack.by_id[rule_id].owner, pack.by_id[rule_id].severity, pack.by_id[rule_id].stewards)}
    assert told <= allowed  # nobody hears about alerts that are not theirs
