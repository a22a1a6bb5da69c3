"""Steward workflow on the store: ack, assign, status with comments, every change in the
history with who and when; silences stored and applied; state history kept across passes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting import workflow
from alerting.outbox import dispatch
from alerting.policy import NotificationPolicy
from alerting.service import evaluate_and_notify
from alerting.workflow import AlertNotFound
from core.config import load_settings
from core.errors import ChargelineError, SourceUnavailable
from rules.loader import RuleSet
from tests.alerting.factories import T0, TableReader, make_rule, value

NACK = make_rule()
RULES = RuleSet((NACK,), (), {NACK.id: NACK})
POLICY = NotificationPolicy(group_wait=timedelta(0), repeat_interval=timedelta(hours=1))
CH1 = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
FP = "nack-rate|channel=FAC01_CHG_OUT,facility=FAC01"


def _pass(engine, store_url, number, at, outbox=None):
    settings = load_settings(database_url=store_url)
    if number == "down":
        def boom():
            raise SourceUnavailable("engine statistics API answered 503")
        reader = TableReader({"nack_rate": boom})
    else:
        reader = TableReader({"nack_rate": [value("nack_rate", CH1, number)]})
    return evaluate_and_notify(engine, settings, reader, at, rules=RULES, policy=POLICY)


def test_ack_assign_status_are_recorded_with_who_and_when(engine, store_url) -> None:
    _pass(engine, store_url, 0.2, T0)
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    workflow.acknowledge(engine, FP, "ann@example.org", "looking", now=t1)
    workflow.assign(engine, FP, "bob@example.org", "ann@example.org", "engine owner", now=t2)
    workflow.set_status(engine, FP, "false positive", "bob@example.org", "test feed", now=t3)
    [row] = workflow.list_alerts(engine, states=["firing"])
    assert (row.ack_by, row.assignee, row.status, row.status_comment) == (
        "bob@example.org", "bob@example.org", "false_positive", "test feed")
    entries = [(e.at, e.kind, e.what, e.actor, e.comment) for e in workflow.history(engine, FP)]
    assert entries == [
        (T0, "state", "ok -> firing (fail)", "chargeline", "breached"),
        (t1, "ack", "ann@example.org", "ann@example.org", "looking"),
        (t2, "assign", "bob@example.org", "ann@example.org", "engine owner"),
        (t3, "status", "false_positive", "bob@example.org", "test feed"),
    ]
    with pytest.raises(ChargelineError, match="investigating, fixed, expected"):
        workflow.set_status(engine, FP, "done", "bob@example.org")
    with pytest.raises(AlertNotFound):
        workflow.acknowledge(engine, "nope|", "ann@example.org")


def test_workflow_survives_re_evaluation_and_error_keeps_the_incident(engine, store_url) -> None:
    _pass(engine, store_url, 0.2, T0)
    workflow.assign(engine, FP, "bob@example.org", "ann@example.org", now=T0)
    _pass(engine, store_url, "down", T0 + timedelta(minutes=5))
    [row] = workflow.list_alerts(engine)
    assert (row.state, row.assignee, row.firing_since) == ("error", "bob@example.org", T0)
    assert "503" in row.error
    _pass(engine, store_url, 0.0, T0 + timedelta(minutes=10))
    [row] = workflow.list_alerts(engine)
    assert row.state == "resolved"
    whats = [e.what for e in workflow.history(engine, FP) if e.kind == "state"]
    assert whats == ["ok -> firing (fail)", "firing -> error (fail)", "error -> resolved"]


def test_stored_silence_mutes_and_expiry_lets_it_through(engine, store_url) -> None:
    silence_id = workflow.add_silence(engine, ["rule=nack-rate", "facility=FAC01"],
                                      T0 + timedelta(hours=1), "ann@example.org",
                                      "engine upgrade tonight", starts_at=T0 - timedelta(1))
    report = _pass(engine, store_url, 0.2, T0)
    assert (report.firing, report.queued) == (1, 0)
    assert [s["id"] for s in workflow.list_silences(engine, T0)] == [silence_id]
    workflow.expire_silence(engine, silence_id, "ann@example.org", now=T0 + timedelta(minutes=5))
    report = _pass(engine, store_url, 0.2, T0 + timedelta(minutes=6))
    assert report.queued == 1
    with pytest.raises(ChargelineError, match="author and a comment"):
        workflow.add_silence(engine, ["rule=x"], T0 + timedelta(hours=1), "ann", "")


def test_outbox_row_is_written_with_the_alert_change(engine, store_url) -> None:
    _pass(engine, store_url, 0.2, T0)
    rows = workflow.outbox_rows(engine, ("pending",))
    assert [r["recipient"] for r in rows] == ["interfaces@example.org"]
    # an ack stops the repeat; without the ack a repeat would be queued after an hour
    workflow.acknowledge(engine, FP, "ann@example.org", now=T0 + timedelta(minutes=1))
    settings = load_settings(database_url=store_url, smtp={"port": 1})
    dispatch(engine, settings, T0, sender=lambda msg: None)
    assert _pass(engine, store_url, 0.2, T0 + timedelta(hours=2)).queued == 0
