"""Alerts to on-call receivers through the outbox and a real HTTP receiver on loopback:
the Alertmanager webhook payload's fields, retries on 5xx and connection errors with
backoff, a 4xx going dead, nothing sent twice (a crash between the POST and the ``sent``
mark re-sends the same bytes under the same Idempotency-Key), rows to one receiver in
order, and no patient data in a payload. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from alerting.outbox import dispatch
from alerting.payloads import ZERO_TIME
from alerting.policy import NotificationPolicy, StewardPrefs
from alerting.receivers import DeliveryError, post
from alerting.service import evaluate_and_notify
from alerting.workflow import outbox_rows, retry_dead
from core.config import load_settings
from rules.loader import RuleSet
from store.schema_alerting import alert_outbox
from tests.alerting.factories import T0, TableReader, make_rule, value
from tests.alerting.smtp_server import free_port

NACK = make_rule(keep_firing="0s", runbook="https://wiki.example.org/nack")
DUPES = make_rule(id="duplicate-charges-usd", name="Duplicate charges ($ overcharged)",
                  metric="duplicate_charge_usd", owner="revenue-cycle",
                  stewards=["rc@example.org"], scope={"by": ["facility"]}, warn=1, fail=5000,
                  parameters={"field": "amount"}, severity="warning", unit="USD")
RULES = RuleSet((NACK, DUPES), (), {NACK.id: NACK, DUPES.id: DUPES})
POLICY = NotificationPolicy(group_wait=timedelta(0), group_interval=timedelta(0))
CH1 = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
# a mis-mapped channel id carrying a medical record number: it must not leave as is
PHI_CHANNEL = "MRN 00123456 DOE^JANE"
READER = TableReader({
    "nack_rate": [value("nack_rate", CH1, 0.12, detail={"numerator": 12, "denominator": 100}),
                  value("nack_rate", {"facility": "FAC02", "channel": PHI_CHANNEL}, 0.2)],
    "duplicate_charge_usd": [value("duplicate_charge_usd", {"facility": "FAC01"}, 3,
                                   amount=7450.0)],
})
CLEAN = TableReader({
    "nack_rate": [value("nack_rate", CH1, 0.0),
                  value("nack_rate", {"facility": "FAC02", "channel": PHI_CHANNEL}, 0.0)],
    "duplicate_charge_usd": [value("duplicate_charge_usd", {"facility": "FAC01"}, 0,
                                   amount=0.0)],
})


class Receiver:
    """A loopback HTTP receiver: answers each POST with the next scripted status (then
    200) and records it; ``delivered`` keeps one body per Idempotency-Key, as an on-call
    tool that deduplicates does."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self.delivered: dict[str, bytes] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body, "status": status})
                key = self.headers.get("Idempotency-Key", "")
                if 200 <= status < 300:
                    receiver.delivered.setdefault(key, body)
                answer = b"ok" if status < 300 else b"no such hook" if status < 500 else b"busy"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-SECRET"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec


def _settings(store_url: str, url: str, **receiver: Any):
    spec = {"name": "oncall", "type": "webhook", "url": url, "owners": ["integration"],
            "timeout_seconds": 5, **receiver}
    return load_settings(database_url=store_url, dashboard_url="http://dash.example:8501",
                         receivers=[spec])


MAILS: list = []


def _dispatch(engine, settings, at, **kw):
    """Dispatch with e-mail kept in memory (no relay needed for these tests)."""
    return dispatch(engine, settings, at, sender=MAILS.append, **kw)


def _receiver_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(alert_outbox).where(alert_outbox.c.recipient == "webhook:oncall")
            .order_by(alert_outbox.c.id)).mappings()]


def test_the_alertmanager_payload_and_its_resolve(engine, store_url, receiver) -> None:
    settings = _settings(store_url, receiver.url)
    report = evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    # two owners' e-mails and the on-call webhook of the integration team alone
    assert report.queued == 3
    assert _dispatch(engine, settings, T0).sent == 3
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/T0KEN-SECRET"
    assert request["headers"]["Content-Type"].startswith("application/json")
    body = receiver.payloads()[0]
    assert body["version"] == "4"
    assert body["receiver"] == "oncall"
    assert body["status"] == "firing"
    assert body["groupLabels"] == {"owner": "integration"}
    assert body["groupKey"] == '{}/{receiver="oncall"}:{owner="integration"}'
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"] == "http://dash.example:8501"
    assert body["commonLabels"] == {"alertname": "nack-rate", "rule": "nack-rate",
                                    "owner": "integration", "metric": "nack_rate",
                                    "severity": "critical"}
    assert body["commonAnnotations"]["description"] == NACK.description
    assert body["commonAnnotations"]["runbook_url"] == "https://wiki.example.org/nack"
    alerts = {a["labels"]["facility"]: a for a in body["alerts"]}
    assert sorted(alerts) == ["FAC01", "FAC02"]
    one = alerts["FAC01"]
    assert set(one) == {"status", "labels", "annotations", "startsAt", "endsAt",
                        "generatorURL", "fingerprint"}
    assert one["status"] == "firing"
    assert one["labels"]["channel"] == "FAC01_CHG_OUT"
    assert one["startsAt"] == "2026-11-18T10:00:00Z"
    assert one["endsAt"] == ZERO_TIME
    assert one["generatorURL"] == ("http://dash.example:8501/alerts?channel=FAC01_CHG_OUT"
                                   "&facility=FAC01&rule=nack-rate")
    assert len(one["fingerprint"]) == 16
    assert one["annotations"]["level"] == "fail"
    assert one["annotations"]["summary"] == ("NACK rate per channel — channel FAC01_CHG_OUT, "
                                             "facility FAC01: 0.12 (threshold 0.05)")
    # no patient data anywhere in what left, the raw scope included
    raw = request["body"].decode()
    assert "00123456" not in raw and "DOE" not in raw and "MRN" not in raw
    assert alerts["FAC02"]["labels"]["channel"].startswith("pt_")
    # the URL (with its token) is in no stored row
    assert all("T0KEN" not in json.dumps(r, default=str) for r in _receiver_rows(engine))

    # the problem clears: one resolve notice, with when it started and ended
    later = T0 + timedelta(minutes=20)
    evaluate_and_notify(engine, settings, CLEAN, later, rules=RULES, policy=POLICY)
    assert _dispatch(engine, settings, later).sent >= 1
    assert len(receiver.requests) == 2
    resolved = receiver.payloads()[1]
    assert resolved["status"] == "resolved"
    assert resolved["groupKey"] == body["groupKey"]
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"}
    first = {a["labels"]["facility"]: a for a in resolved["alerts"]}["FAC01"]
    assert (first["startsAt"], first["endsAt"]) == ("2026-11-18T10:00:00Z",
                                                     "2026-11-18T10:20:00Z")
    assert first["fingerprint"] == one["fingerprint"]  # the same alert, for deduplication
    # nothing more to say
    evaluate_and_notify(engine, settings, CLEAN, later + timedelta(hours=5), rules=RULES,
                        policy=POLICY)
    _dispatch(engine, settings, later + timedelta(hours=5))
    assert len(receiver.requests) == 2


def test_5xx_retries_with_backoff_then_succeeds_once(engine, store_url) -> None:
    with Receiver([503, 502]) as receiver:
        settings = _settings(store_url, receiver.url)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        assert _dispatch(engine, settings, T0).retried == 1
        # in backoff (30 s): not tried again before
        assert _dispatch(engine, settings, T0 + timedelta(seconds=10)).retried == 0
        assert len(receiver.requests) == 1
        assert _dispatch(engine, settings, T0 + timedelta(seconds=31)).retried == 1
        assert _dispatch(engine, settings, T0 + timedelta(minutes=2)).sent == 1
        for minutes in (5, 60, 600):
            _dispatch(engine, settings, T0 + timedelta(minutes=minutes))
    assert [r["status"] for r in receiver.requests] == [503, 502, 200]
    assert len({r["body"] for r in receiver.requests}) == 1  # byte-identical re-sends
    assert len({r["headers"]["Idempotency-Key"] for r in receiver.requests}) == 1
    [row] = _receiver_rows(engine)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 3, "")


def test_a_connection_error_retries(engine, store_url) -> None:
    settings = _settings(store_url, f"http://127.0.0.1:{free_port()}/hook")
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    assert _dispatch(engine, settings, T0).retried == 1
    [row] = _receiver_rows(engine)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "ConnectError" in row["last_error"] and "webhook:oncall" in row["last_error"]
    assert row["next_attempt_at"] == T0 + timedelta(seconds=30)


def test_a_4xx_goes_dead_and_can_be_queued_again(engine, store_url) -> None:
    with Receiver([404]) as receiver:
        settings = _settings(store_url, receiver.url)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        assert _dispatch(engine, settings, T0).dead == 1
        for hours in (1, 5, 24):
            assert _dispatch(engine, settings, T0 + timedelta(hours=hours)).dead == 0
        assert len(receiver.requests) == 1
        [dead] = [r for r in outbox_rows(engine, ("dead",))]
        assert dead["recipient"] == "webhook:oncall" and dead["attempts"] == 1
        assert "HTTP 404" in dead["last_error"] and "T0KEN" not in dead["last_error"]
        assert retry_dead(engine, "ops@example.org", now=T0 + timedelta(days=1)) == 1
        assert _dispatch(engine, settings, T0 + timedelta(days=1)).sent == 1
    assert [r["status"] for r in receiver.requests] == [404, 200]


class Crash(BaseException):
    """The process dies (SIGKILL, power) after the POST, before the ``sent`` mark."""


def test_a_crash_between_post_and_mark_sends_nothing_twice(engine, store_url,
                                                            receiver) -> None:
    settings = _settings(store_url, receiver.url)
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)

    def post_then_die(*args: Any) -> None:
        post(*args)
        raise Crash

    with pytest.raises(Crash):
        dispatch(engine, settings, T0, worker="a", sender=MAILS.append, poster=post_then_die)
    [row] = _receiver_rows(engine)
    assert row["status"] == "sending"
    # another dispatcher leaves the claimed row alone until the claim times out ...
    _dispatch(engine, settings, T0 + timedelta(minutes=1), worker="b")
    assert len(receiver.requests) == 1
    # ... then sends it again: the same bytes under the same Idempotency-Key
    assert _dispatch(engine, settings, T0 + timedelta(minutes=11), worker="b").sent == 1
    for minutes in (12, 60, 300):
        _dispatch(engine, settings, T0 + timedelta(minutes=minutes), worker="a")
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert keys == {row["dedupe_key"]}
    assert len(receiver.delivered) == 1  # one notification where the key is honoured
    assert _receiver_rows(engine)[0]["status"] == "sent"


def test_two_dispatchers_post_each_row_once(engine, store_url, receiver) -> None:
    settings = _settings(store_url, receiver.url)
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    reports = [_dispatch(engine, settings, T0, worker=w) for w in ("a", "b", "a")]
    assert [r.sent for r in reports] == [3, 0, 0]
    assert len(receiver.requests) == 1


def test_a_resolve_never_overtakes_its_firing(engine, store_url) -> None:
    with Receiver([500]) as receiver:
        settings = _settings(store_url, receiver.url)
        evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
        assert _dispatch(engine, settings, T0).retried == 1  # firing in backoff
        at = T0 + timedelta(seconds=10)
        evaluate_and_notify(engine, settings, CLEAN, at, rules=RULES, policy=POLICY)
        assert len(_receiver_rows(engine)) == 2
        _dispatch(engine, settings, at)  # the resolve is due, the firing is not: it waits
        assert len(receiver.requests) == 1
        assert _dispatch(engine, settings, T0 + timedelta(minutes=1)).sent >= 2
    assert [p["status"] for p in receiver.payloads()] == ["firing", "firing", "resolved"]


def test_the_mail_relay_being_down_holds_no_webhook(engine, store_url, receiver) -> None:
    settings = load_settings(
        database_url=store_url, smtp={"host": "127.0.0.1", "port": free_port(),
                                      "timeout_seconds": 2},
        receivers=[{"name": "oncall", "type": "webhook", "url": receiver.url,
                    "owners": ["integration"]}])
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    report = dispatch(engine, settings, T0)  # no relay listening
    assert (report.sent, report.waiting) == (1, 2)
    assert len(receiver.requests) == 1
    [row] = _receiver_rows(engine)
    assert row["last_error"] == ""


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_chat_receivers_get_their_own_format(engine, store_url, receiver, kind) -> None:
    settings = load_settings(
        database_url=store_url, dashboard_url="http://dash.example:8501",
        receivers=[{"name": "rc-room", "type": kind, "url": receiver.url,
                    "owners": ["revenue-cycle"]}])
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    _dispatch(engine, settings, T0)
    [body] = receiver.payloads()
    title = "[Chargeline] revenue-cycle: 1 firing, $7,450 at stake"
    if kind == "slack":
        assert body["text"] == title
        assert "Duplicate charges ($ overcharged) — facility FAC01: $3.00" in \
            body["blocks"][1]["text"]["text"]
        assert "<http://dash.example:8501/alerts?facility=FAC01&rule=duplicate-charges-usd" \
            "|open in Chargeline>" in body["blocks"][1]["text"]["text"]
    else:
        assert body["type"] == "message"
        card = body["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"
        assert card["content"]["body"][0]["text"] == title
        assert card["content"]["body"][1]["text"].startswith("[FAIL] Duplicate charges")


def test_a_silenced_alert_is_not_paged(engine, store_url, receiver) -> None:
    from alerting.workflow import add_silence

    settings = _settings(store_url, receiver.url)
    add_silence(engine, ["rule=nack-rate"], T0 + timedelta(hours=2), "ops@example.org",
                "planned engine restart", starts_at=T0 - timedelta(minutes=1))
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=POLICY)
    _dispatch(engine, settings, T0)
    assert receiver.requests == []


def test_quiet_hours_hold_a_receiver_like_a_steward(engine, store_url, receiver) -> None:
    settings = _settings(store_url, receiver.url)
    quiet = NotificationPolicy(group_wait=timedelta(0), group_interval=timedelta(0),
                               stewards={"webhook:oncall": StewardPrefs(
                                   quiet_start=time(9), quiet_end=time(11),
                                   critical_overrides=False)})
    evaluate_and_notify(engine, settings, READER, T0, rules=RULES, policy=quiet)
    _dispatch(engine, settings, T0)
    assert receiver.requests == []  # 10:00 UTC is quiet for it
    later = T0 + timedelta(hours=1, minutes=5)
    evaluate_and_notify(engine, settings, READER, later, rules=RULES, policy=quiet)
    _dispatch(engine, settings, later)
    assert [p["status"] for p in receiver.payloads()] == ["firing"]


def test_receiver_settings_are_checked(monkeypatch) -> None:
    from core.errors import ConfigError

    ok = {"name": "oncall", "type": "webhook", "url": "https://events.example/hook"}
    with pytest.raises(ConfigError, match="needs url or url_env"):
        load_settings(receivers=[{"name": "oncall", "type": "webhook"}])
    with pytest.raises(ConfigError, match="must be unique; repeated: oncall"):
        load_settings(receivers=[ok, ok])
    with pytest.raises(ConfigError, match=r"receivers\.0\.type"):
        load_settings(receivers=[{**ok, "type": "pager"}])
    with pytest.raises(ConfigError, match="must start with http"):
        load_settings(receivers=[{**ok, "url": "events.example/hook"}])
    with pytest.raises(ConfigError, match="not an environment variable name"):
        load_settings(receivers=[{"name": "oncall", "type": "slack",
                                  "url_env": "$ONCALL_URL"}])
    monkeypatch.delenv("ONCALL_URL", raising=False)
    unset = load_settings(receivers=[{"name": "oncall", "type": "slack",
                                      "url_env": "ONCALL_URL"}]).receivers[0]
    with pytest.raises(DeliveryError, match="ONCALL_URL is not set") as caught:
        post(unset, "{}", "key")
    assert caught.value.retryable
    monkeypatch.setenv("ONCALL_URL", "https://hooks.slack.example/T/B/x")
    settings = load_settings(receivers=[{"name": "oncall", "type": "slack",
                                         "url_env": "ONCALL_URL"}])
    assert settings.receivers[0].target() == "https://hooks.slack.example/T/B/x"
    assert "hooks.slack" not in repr(settings)  # a secret, never printed
