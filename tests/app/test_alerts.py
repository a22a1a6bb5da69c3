"""The alert inbox: acknowledge, assign, status and silence through alerting.workflow —
the store changes and the alert's history records who did what and why."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from rules.evaluate import fingerprint
from store.schema_alerting import alert_actions, alert_instances, alert_silences
from tests.app.conftest import signed_in

CAPTURE = fingerprint("charge-capture", {"facility": "FAC01", "item_class": "IMPLANT"})
NACK = fingerprint("nack-rate", {"facility": "FAC01", "channel": "FAC01_CHG_OUT"})


def _inbox(role: str = "steward", **params: str):
    at = signed_in(role)
    for key, value in params.items():
        at.query_params[key] = [value]
    at.switch_page("views/alerts.py").run()
    assert not at.exception, at.exception
    return at


def _instance(engine, fp: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(alert_instances).where(
            alert_instances.c.fingerprint == fp)).mappings().one())


def _actions(engine, fp: str) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(alert_actions.c.action, alert_actions.c.value, alert_actions.c.actor,
                   alert_actions.c.comment).where(alert_actions.c.fingerprint == fp)
            .order_by(alert_actions.c.id))]


def test_the_inbox_lists_firing_first_and_opens_on_the_newest(seeded) -> None:
    at = _inbox()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Firing"] == "3" and cards["Pending"] == "1"
    table = at.dataframe[0].value
    assert list(table["state"]) == ["firing", "firing", "firing", "pending", "resolved"]
    assert at.selectbox(key="al_focus").value == CAPTURE


def test_acknowledge_writes_the_instance_and_its_history(seeded) -> None:
    at = _inbox()
    at.text_input(key="al_comment").input("looking at the OR feed")
    at.button(key="al_ack").click().run()
    assert not at.exception, at.exception
    assert "acknowledged by steward@test" in at.success[0].value
    assert _instance(seeded.engine, CAPTURE)["ack_by"] == "steward@test"
    assert _actions(seeded.engine, CAPTURE) == [
        ("ack", "steward@test", "steward@test", "looking at the OR feed")]
    history = at.dataframe[1].value  # the focused alert's history, newest first
    assert history.iloc[0]["kind"] == "ack" and history.iloc[0]["actor"] == "steward@test"
    assert at.button(key="al_unack")  # the button now offers the way back


def test_silence_needs_a_reason_then_mutes_exactly_this_alert(seeded) -> None:
    at = _inbox()
    at.button(key="al_silence").click().run()
    assert any("comment" in e.value for e in at.error)
    with seeded.engine.connect() as conn:
        assert conn.execute(select(alert_silences)).first() is None
    at.text_input(key="al_comment").input("implant cabinet migration tonight")
    at.number_input(key="al_silence_hours").set_value(6)
    at.button(key="al_silence").click().run()
    assert not at.exception, at.exception
    with seeded.engine.connect() as conn:
        row = conn.execute(select(alert_silences)).mappings().one()
    assert json.loads(row["matchers_json"]) == ["rule=charge-capture", "facility=FAC01",
                                                "item_class=IMPLANT"]
    assert row["author"] == "steward@test"
    assert round((row["ends_at"] - row["starts_at"]).total_seconds() / 3600) == 6
    assert at.dataframe[-1].value["id"].tolist() == [row["id"]]  # listed as active


def test_assign_and_status_are_recorded(seeded_sqlite) -> None:
    engine = seeded_sqlite.engine
    at = _inbox()
    at.text_input(key="al_assignee").input("rc-lead@example.org")
    at.button(key="al_assign").click().run()
    at.selectbox(key="al_status").select("expected")
    at.text_input(key="al_comment").input("known OR downtime")
    at.button(key="al_set_status").click().run()
    assert not at.exception, at.exception
    row = _instance(engine, CAPTURE)
    assert (row["assignee"], row["status"], row["status_comment"]) == (
        "rc-lead@example.org", "expected", "known OR downtime")
    assert [a[0] for a in _actions(engine, CAPTURE)] == ["assign", "status"]


def test_an_email_link_opens_its_alert(seeded_sqlite) -> None:
    at = _inbox("interface_owner", rule="nack-rate", facility="FAC01",
                channel="FAC01_CHG_OUT")
    assert at.selectbox(key="al_focus").value == NACK


def test_an_api_alerts_records_are_its_failed_calls(seeded) -> None:
    """Issue 19 item 3: 'records behind this alert' of an API error alert opened every
    call of the source, mostly HTTP 200."""
    from app.shaping.drill import from_query_params
    from store.schema import api_calls
    from tests.app.conftest import links
    from tests.app.test_interfaces import _drill_count

    down = fingerprint("collector-down", {"source": "erp"})
    at = _inbox(rule="collector-down", source="erp")
    assert at.selectbox(key="al_focus").value == down
    params = next(q for label, page, q in links(at) if label == "Records behind this alert")
    assert from_query_params(params).problems
    a = api_calls.c
    with seeded.engine.connect() as conn:
        failed = conn.execute(select(func.count()).where(
            a.source == "erp", (a.status_code >= 400) | (a.error_class != "")
            | a.status_code.is_(None))).scalar_one()
    assert 0 < _drill_count(params) == failed


def test_an_actions_comment_is_not_stamped_on_the_next(seeded_sqlite) -> None:
    """Issue 19 item 8: the comment box kept its text across ack, assign and status."""
    at = _inbox()
    at.text_input(key="al_comment").input("looking at the OR feed")
    at.button(key="al_ack").click().run()
    assert at.text_input(key="al_comment").value == ""
    at.text_input(key="al_assignee").input("rc-lead@example.org")
    at.button(key="al_assign").click().run()
    assert not at.exception, at.exception
    assert [a[3] for a in _actions(seeded_sqlite.engine, CAPTURE)] == [
        "looking at the OR feed", ""]


def test_a_dollar_rules_money_is_shown_once(seeded_sqlite) -> None:
    """Issue 19 item 11 ('$ printed twice'): a $ rule's value is its money — the inbox and
    the panel show $4,200 once, as its e-mail does; another rule keeps value and $ apart."""
    dup = fingerprint("duplicate-charges-usd", {"facility": "FAC02"})
    at = _inbox(rule="duplicate-charges-usd", facility="FAC02")
    assert at.selectbox(key="al_focus").value == dup
    table = at.dataframe[0].value
    row = table[table["rule"] == "duplicate-charges-usd"].iloc[0]
    assert (row["value"], row["amount_usd"]) == ("$4,200", "")
    panel = next(m.value for m in at.markdown if m.value.startswith("### duplicate-charges"))
    assert panel.count("4,200") == 1 and "value **$4,200**" in panel
    capture = table[table["rule"] == "charge-capture"].iloc[0]
    assert (capture["value"], capture["amount_usd"]) == ("81.5", "$14,000")
