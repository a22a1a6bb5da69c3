"""The JSON bodies of on-call receivers (pure): the Prometheus Alertmanager webhook
payload (``version: "4"``), a Slack incoming-webhook message and a Microsoft Teams
Adaptive Card message, each built from one digest (one owner, one receiver).

The same rules as e-mail keep patient data out: scopes go through ``safe_scope`` (unknown
keys dropped, anything not shaped like an id replaced by its keyed token), free text
(errors) through ``redact_text``; the alert fingerprint is a hash of those safe labels,
never of the raw scope. Alerts an upstream outage inhibits are left out, as Alertmanager
leaves out inhibited alerts: an on-call engineer is paged for the outage, not for each of
its symptoms.

Alertmanager's fields, as its webhook receiver sends them
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config):

    version, groupKey, truncatedAlerts, status (firing|resolved), receiver, groupLabels,
    commonLabels, commonAnnotations, externalURL,
    alerts[]: status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint

``endsAt`` of a firing alert is Go's zero time, as Alertmanager sends it; of a resolved
one, when it resolved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerting.digest import Digest, DigestItem
from alerting.links import alert_url, records_url
from alerting.mail import fmt_number
from alerting.redact import redact_text, safe_scope
from core.config import ReceiverConfig, Settings
from core.keys import patient_token_key

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert fires
SENT_KINDS = ("new", "escalated", "firing", "resolved")  # not "inhibited"
CHAT_MAX_ALERTS = 20  # a chat message lists this many alerts, then "and N more"


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(digest: Digest, receiver: ReceiverConfig) -> list[DigestItem]:
    kinds = SENT_KINDS if receiver.send_resolved else SENT_KINDS[:-1]
    return [i for i in digest.items if i.kind in kinds]


def alert_of(item: DigestItem, settings: Settings, started: datetime | None = None
             ) -> dict[str, Any]:
    """One alert as Alertmanager shapes it; ``started`` is when a resolved alert's incident
    began (a resolved state no longer carries it)."""
    state, rule = item.state, item.rule
    scope = safe_scope(state.scope, patient_token_key(settings))
    base = settings.dashboard_url
    labels = {"alertname": rule.id, **scope, "rule": rule.id, "owner": rule.owner,
              "metric": rule.metric, "severity": rule.severity.value}
    where = ", ".join(f"{k} {v}" for k, v in sorted(scope.items())) or "whole network"
    value = fmt_number(state.value, rule.unit)
    threshold = fmt_number(state.threshold, rule.unit) if state.threshold is not None else ""
    annotations = {
        "summary": f"{rule.name} — {where}: {value}"
                   + (f" (threshold {threshold})" if threshold else ""),
        "description": rule.description,
        "value": value,
        "dashboard_url": alert_url(base, rule.id, scope),
        "chargeline_kind": item.kind,
    }
    if threshold:
        annotations["threshold"] = threshold
    if state.level:
        annotations["level"] = state.level
    if state.amount and rule.unit != "USD":
        annotations["amount"] = fmt_number(state.amount, "USD")
    records = records_url(base, rule.metric, scope, state.evaluated_at - rule.window,
                          state.evaluated_at, rule.parameters.args)
    if records:
        annotations["records_url"] = records
    if rule.runbook:
        annotations["runbook_url"] = rule.runbook
    if state.state.value in ("nodata", "error"):
        annotations["data"] = f"unavailable ({state.state.value}): {redact_text(state.error)}"
    if item.acknowledged:
        annotations["acknowledged_by"] = item.workflow.ack_by or "a steward"
    resolved = item.kind == "resolved"
    begin = started if resolved else state.firing_since
    return {
        "status": "resolved" if resolved else "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": _time(begin or state.state_since),
        "endsAt": _time(state.state_since) if resolved else ZERO_TIME,
        "generatorURL": annotations["dashboard_url"],
        "fingerprint": fingerprint(labels),
    }


def fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex digits of the sorted labels (Alertmanager's fingerprint is a label hash
    too); the labels are the safe ones, so the hash never stands for a raw identifier."""
    text = "\x00".join(f"{k}\x00{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def group_key(receiver: ReceiverConfig, owner: str) -> str:
    """Stable per receiver and owner, as Alertmanager's is per route and group labels."""
    return f'{{}}/{{receiver="{receiver.name}"}}:{{owner="{owner}"}}'


def alertmanager_payload(digest: Digest, receiver: ReceiverConfig, settings: Settings,
                         started: Mapping[str, datetime] | None = None) -> dict[str, Any] | None:
    """The Alertmanager webhook body of a digest, or None when nothing in it is for this
    receiver (only inhibited alerts, or only resolved ones and ``send_resolved: false``)."""
    started = started or {}
    items = _items(digest, receiver)
    if not items:
        return None
    alerts = [alert_of(i, settings, started.get(i.state.fingerprint)) for i in items]
    alerts.sort(key=lambda a: (a["status"] != "firing", a["labels"]["rule"],
                               a["fingerprint"]))
    truncated = 0
    if receiver.max_alerts and len(alerts) > receiver.max_alerts:
        truncated = len(alerts) - receiver.max_alerts
        alerts = alerts[: receiver.max_alerts]
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key(receiver, digest.owner),
        "truncatedAlerts": truncated,
        "status": "firing" if firing else "resolved",
        "receiver": receiver.name,
        "groupLabels": {"owner": digest.owner},
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": settings.dashboard_url.rstrip("/"),
        "alerts": alerts,
    }


def summary(digest: Digest, receiver: ReceiverConfig) -> str:
    """One line for the outbox row and the chat messages' title."""
    items = _items(digest, receiver)
    firing = sum(1 for i in items if i.kind != "resolved")
    resolved = len(items) - firing
    parts = [f"{firing} firing"] * bool(firing) + [f"{resolved} resolved"] * bool(resolved)
    usd = sum(i.state.amount or 0 for i in items if i.kind != "resolved")
    money = f", ${usd:,.0f} at stake" if usd else ""
    return f"[Chargeline] {digest.owner}: {', '.join(parts) or 'update'}{money}"


def _line(alert: dict[str, Any]) -> tuple[str, str, str]:
    """(tag, headline, details) of one alert for a chat message."""
    ann = alert["annotations"]
    if alert["status"] == "resolved":
        tag = "RESOLVED"
    else:
        tag = (ann.get("level") or alert["labels"]["severity"]).upper()
    details = [f"since {alert['startsAt']}"]
    if ann.get("amount"):
        details.append(ann["amount"])
    if ann.get("data"):
        details.append(ann["data"])
    return tag, ann["summary"], ", ".join(details)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(digest: Digest, receiver: ReceiverConfig, settings: Settings,
                  started: Mapping[str, datetime] | None = None) -> dict[str, Any] | None:
    """A Slack incoming-webhook message: ``text`` (the notification) and ``blocks``."""
    body = alertmanager_payload(digest, receiver, settings, started)
    if body is None:
        return None
    title = summary(digest, receiver)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(title)}*"}}]
    alerts = body["alerts"]
    for alert in alerts[:CHAT_MAX_ALERTS]:
        tag, headline, details = _line(alert)
        text = (f"*[{tag}]* {_slack_escape(headline)}\n{_slack_escape(details)} · "
                f"<{alert['generatorURL']}|open in Chargeline>")
        if alert["annotations"].get("runbook_url"):
            text += f" · <{alert['annotations']['runbook_url']}|runbook>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
    more = len(alerts) - CHAT_MAX_ALERTS + body["truncatedAlerts"]
    if more > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"and {more} more: <{body['externalURL']}/alerts|all alerts>"}]})
    return {"text": title, "blocks": blocks}


def teams_payload(digest: Digest, receiver: ReceiverConfig, settings: Settings,
                  started: Mapping[str, datetime] | None = None) -> dict[str, Any] | None:
    """A Teams message with one Adaptive Card (what a Teams incoming webhook and a
    Workflows 'post to a channel when a webhook request is received' flow accept)."""
    body = alertmanager_payload(digest, receiver, settings, started)
    if body is None:
        return None
    title = summary(digest, receiver)
    card_body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
         "text": title}]
    alerts = body["alerts"]
    for alert in alerts[:CHAT_MAX_ALERTS]:
        tag, headline, details = _line(alert)
        card_body.append({"type": "TextBlock", "wrap": True, "spacing": "Medium",
                          "weight": "Bolder", "text": f"[{tag}] {headline}"})
        card_body.append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                          "spacing": "None",
                          "text": f"{details} · [open in Chargeline]({alert['generatorURL']})"})
    more = len(alerts) - CHAT_MAX_ALERTS + body["truncatedAlerts"]
    if more > 0:
        card_body.append({"type": "TextBlock", "wrap": True, "text": f"and {more} more"})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": card_body,
            "actions": [{"type": "Action.OpenUrl", "title": "All alerts",
                         "url": f"{body['externalURL']}/alerts"}]}
    return {"type": "message", "summary": title, "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


BUILDERS = {"webhook": alertmanager_payload, "slack": slack_payload, "teams": teams_payload}


def payload_json(payload: Mapping[str, Any]) -> str:
    """The body as sent: compact and key-sorted, so a re-send is byte-identical."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
