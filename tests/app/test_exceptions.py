"""The steward's exception queue: paged in the store, and a status change that goes
through metrics.exceptions.set_status and into the audit log."""

from __future__ import annotations

from sqlalchemy import select

from store.schema_app import app_audit_log
from store.schema_metrics import metric_exceptions
from tests.app.conftest import signed_in


def _queue(**params: str):
    at = signed_in("steward")
    for key, value in params.items():
        at.query_params[key] = [value]
    at.switch_page("views/exceptions.py").run()
    assert not at.exception, at.exception
    return at


def test_queues_hold_the_seeded_problems(seeded) -> None:
    truth = seeded.truth
    at = _queue(ex_queue="Duplicate charges")
    table = at.dataframe[0].value
    assert len(table) == len(truth.duplicated)
    assert set(table["kind"]) == {"duplicate_charge"}
    assert list(table["amount"]) == sorted(table["amount"], reverse=True)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Duplicate charges"] == f"{len(truth.duplicated)} open"


def test_a_status_change_is_stored_and_audited(seeded) -> None:
    at = _queue()
    focus = at.selectbox(key="ex_focus").value
    at.selectbox(key="ex_new_status").select("false_positive")
    at.text_input(key="ex_assignee").input("materials@example.org")
    at.text_input(key="ex_comment").input("anchor is billed in the procedure")
    at.button(key="ex_save").click().run()
    assert not at.exception, at.exception
    with seeded.engine.connect() as conn:
        row = conn.execute(select(metric_exceptions).where(
            metric_exceptions.c.exception_id == focus)).mappings().one()
        audit = conn.execute(select(app_audit_log).where(
            app_audit_log.c.action == "exception_status")).mappings().one()
    assert (row["status"], row["assignee"]) == ("false_positive", "materials@example.org")
    assert (audit["actor"], audit["target"], audit["reason"]) == (
        "steward@test", focus, "anchor is billed in the procedure")
    assert focus not in set(at.dataframe[0].value["exception_id"])  # no longer open
