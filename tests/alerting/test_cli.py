"""``chargeline alerts list|ack|assign|status|history|silence|silences|unsilence|outbox`` on
a real store (SQLite and PostgreSQL), through the same functions the dashboard calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from alerting.outbox import dispatch
from alerting.policy import NotificationPolicy
from alerting.service import evaluate_and_notify
from chargeline.cli import app
from core.config import load_settings
from core.errors import ChargelineError
from rules.loader import RuleSet
from tests.alerting.factories import T0, TableReader, make_rule, value
from tests.alerting.smtp_server import RecordingHandler, free_port, start

NACK = make_rule()
FP = "nack-rate|channel=FAC01_CHG_OUT,facility=FAC01"


@pytest.fixture
def cli(engine, store_url, monkeypatch):
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), env={"CHARGELINE_DATABASE_URL": store_url})
        if isinstance(result.exception, ChargelineError):
            raise result.exception
        assert result.exit_code == 0, result.output
        return result.output

    reader = TableReader({"nack_rate": [value("nack_rate", {"facility": "FAC01",
                                                            "channel": "FAC01_CHG_OUT"}, 0.2)]})
    evaluate_and_notify(engine, load_settings(database_url=store_url), reader, T0,
                        rules=RuleSet((NACK,), (), {NACK.id: NACK}),
                        policy=NotificationPolicy(group_wait=timedelta(0)))
    return invoke


def test_steward_commands_change_and_record(cli) -> None:
    listed = cli("alerts", "list", "--state", "firing")
    lines = listed.splitlines()
    assert lines[0].startswith("state") and "fingerprint" in lines[0]  # a header
    assert FP in listed and lines[1].startswith("firing    fail")
    assert lines[-1] == "1 firing"
    assert cli("alerts", "ack", FP, "--by", "ann@example.org", "-m", "on it") == (
        f"acknowledged {FP}\n")
    cli("alerts", "assign", FP, "bob@example.org", "--by", "ann@example.org")
    cli("alerts", "status", FP, "investigating", "--by", "bob@example.org", "-m", "engine log")
    assert "ack:ann@example.org ->bob@example.org investigating" in cli("alerts", "list")
    history = cli("alerts", "history", FP).splitlines()
    assert [line.split()[2] for line in history] == ["state", "ack", "assign", "status"]
    assert history[-1].endswith("investigating                bob@example.org  engine log")
    with pytest.raises(ChargelineError, match="is not one of investigating"):
        cli("alerts", "status", FP, "done", "--by", "bob@example.org")
    with pytest.raises(ChargelineError, match="no alert 'nope'"):
        cli("alerts", "ack", "nope", "--by", "ann@example.org")


def test_alerts_list_leaves_ok_out_unless_asked(cli) -> None:
    # the store holds the firing NACK alert only; nothing is ok
    assert cli("alerts", "list", "--state", "ok") == "no alert matches\n"
    listed = cli("alerts", "list").splitlines()
    assert listed[0].startswith("state") and listed[-1] == "1 firing"


def test_silence_commands(cli) -> None:
    out = cli("alerts", "silence", "rule=nack-rate", "facility=FAC01", "--hours", "2",
              "--by", "ann@example.org", "-m", "engine upgrade")
    silence_id = int(out.split()[1])
    assert '["rule=nack-rate", "facility=FAC01"]  ann@example.org: engine upgrade' in cli(
        "alerts", "silences")
    assert cli("alerts", "unsilence", str(silence_id), "--by", "ann@example.org") == (
        f"silence {silence_id} ended\n")
    assert cli("alerts", "silences") == ""
    with pytest.raises(ChargelineError, match="is not label=value"):
        cli("alerts", "silence", "rule", "--by", "ann@example.org", "-m", "x")


def test_outbox_shows_dead_mail_and_requeues_it(cli, engine, store_url) -> None:
    port = free_port()
    handler = RecordingHandler(reject=frozenset({"interfaces@example.org"}))
    server = start(handler, port)
    settings = load_settings(database_url=store_url, smtp={"host": "127.0.0.1", "port": port})
    try:
        assert dispatch(engine, settings, T0).dead == 1
        dead = cli("alerts", "outbox")
        assert dead.startswith("   id status")
        assert "dead     tries  1  interfaces@example.org" in dead and "550" in dead
        assert cli("alerts", "outbox", "--retry-dead", "--by", "ann@example.org") == (
            "requeued 1 dead e-mail(s)\n")
        handler.reject = frozenset()
        # the CLI requeued it as of the wall clock
        assert dispatch(engine, settings, datetime.now(UTC)).sent == 1
    finally:
        server.stop()
    assert cli("alerts", "outbox") == "outbox: nothing pending/sending/dead\n"
    assert [m["To"] for m in handler.messages] == ["interfaces@example.org"]
