"""On-call receivers beside e-mail: a webhook (the Alertmanager webhook JSON), Microsoft
Teams and Slack incoming webhooks, configured under ``receivers:`` (``ReceiverConfig``).

A receiver is one more recipient of the owners' digests. ``with_receivers`` adds it to the
policy as a route (``owners``, ``severity``), named ``<type>:<name>`` (``webhook:oncall``)
wherever e-mail names an address: its own notification group per owner (group_wait,
group_interval, repeat_interval, resolve notices), silences, and quiet hours when the
policy's ``stewards:`` has an entry under that name. ``outbox_row`` renders a digest into
an outbox row (the JSON body in ``body_text``), queued in the same transaction as the
alert change; ``post`` delivers it, and the dispatcher (alerting.outbox) treats the answer:

- 2xx: sent;
- a connection error, a timeout, 5xx, 408, 425 or 429: retried with the outbox backoff
  (429 and 503 no sooner than their ``Retry-After``), ``dead`` after ``MAX_ATTEMPTS``;
- any other answer (4xx, a redirect): ``dead`` at once, shown in the dashboard and the
  CLI, and ``chargeline alerts outbox --retry-dead`` queues it again once it is fixed.

Delivery is at least once, like Alertmanager's: a crash between the POST and the ``sent``
mark sends the row again after the claim times out. The re-send is byte-identical and
carries the same ``Idempotency-Key`` header (the row's dedupe key), and the Alertmanager
body the same ``groupKey`` and alert fingerprints, which is what on-call tools deduplicate
on. Rows to one receiver go out in the order they were queued: a row waits while an
older one to the same receiver is still queued, so a resolve never overtakes its firing.

The URL is never written to the store or to an error: rows name the receiver, and the
dispatcher looks its URL up in the settings when it sends.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Connection

from alerting.data.history import incident_starts
from alerting.digest import Digest
from alerting.payloads import BUILDERS, payload_json, summary
from alerting.policy import NotificationPolicy, Route
from core.config import ReceiverConfig, Settings

RECEIVER_TYPES = ("webhook", "teams", "slack")
RETRY_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "Chargeline-alerting/1"


def is_receiver_key(recipient: str) -> bool:
    """True for ``webhook:oncall``-style recipients (an e-mail address has an @)."""
    kind, sep, name = recipient.partition(":")
    return bool(sep and name) and kind in RECEIVER_TYPES and "@" not in recipient


def receiver_for(settings: Settings, key: str) -> ReceiverConfig | None:
    return next((r for r in settings.receivers if r.key == key), None)


def with_receivers(policy: NotificationPolicy, settings: Settings) -> NotificationPolicy:
    """``policy`` with a route per configured receiver (once, however often it is called)."""
    have = {(r.owner, r.severity, r.add) for r in policy.routes}
    extra = []
    for receiver in settings.receivers:
        for owner in receiver.owners or ("",):
            route = Route(owner=owner, severity=receiver.severity, add=(receiver.key,))
            if (route.owner, route.severity, route.add) not in have:
                extra.append(route)
    if not extra:
        return policy
    return policy.model_copy(update={"routes": (*policy.routes, *extra)})


def outbox_row(conn: Connection, digest: Digest, settings: Settings,
               now: datetime) -> dict | None:
    """The outbox row of a digest for a receiver, or None when it has nothing for it (or
    the receiver is no longer configured: its routes went with it)."""
    receiver = receiver_for(settings, digest.recipient)
    if receiver is None:
        return None
    resolved = [i.state.fingerprint for i in digest.items if i.kind == "resolved"]
    started = incident_starts(conn, resolved, now) if resolved else {}
    payload = BUILDERS[receiver.type](digest, receiver, settings, started)
    if payload is None:
        return None
    return {
        "dedupe_key": digest.dedupe_key, "message_id": digest.dedupe_key,
        "owner": digest.owner, "recipient": receiver.key,
        "subject": summary(digest, receiver)[:300], "body_text": payload_json(payload),
        "body_html": "", "status": "pending", "attempts": 0, "next_attempt_at": now,
        "last_error": "", "claimed_by": "", "created_at": now,
    }


@dataclass
class DeliveryError(Exception):
    """A receiver did not take the body: ``retryable`` says whether trying later can help."""

    message: str
    retryable: bool
    retry_after: timedelta | None = None

    def __str__(self) -> str:
        return self.message


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        at = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(at.astimezone(UTC) - now, timedelta(0)) if at.tzinfo else None


def post(receiver: ReceiverConfig, body: str, idempotency_key: str,
         now: datetime | None = None) -> None:
    """POST one body; raise ``DeliveryError`` (module doc) unless the answer is 2xx. The
    error names the receiver and the status, never the URL (it may hold a token)."""
    url = receiver.target()
    where = receiver.key
    if not url:
        raise DeliveryError(f"{where}: no URL — the environment variable "
                            f"{receiver.url_env} is not set in this process", True)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               "Idempotency-Key": idempotency_key}
    headers.update({k: v.get_secret_value() for k, v in receiver.headers.items()})
    verify: str | bool = receiver.ca_file or True
    try:
        with httpx.Client(timeout=receiver.timeout_seconds, verify=verify,
                          follow_redirects=False) as client:
            answer = client.post(url, content=body.encode("utf-8"), headers=headers)
    except httpx.HTTPError as exc:
        text = str(exc).replace(url, "<url>") or type(exc).__name__
        raise DeliveryError(f"{where}: {type(exc).__name__}: {text}", True) from None
    if 200 <= answer.status_code < 300:
        return
    said = " ".join(answer.text.split())[:200].replace(url, "<url>")
    message = f"{where}: HTTP {answer.status_code}" + (f": {said}" if said else "")
    retryable = answer.status_code >= 500 or answer.status_code in RETRY_STATUSES
    raise DeliveryError(message, retryable,
                        _retry_after(answer.headers.get("Retry-After"),
                                     now or datetime.now(UTC)) if retryable else None)


def receiver_keys(settings: Settings) -> Mapping[str, ReceiverConfig]:
    return {r.key: r for r in settings.receivers}


__all__ = ["DeliveryError", "is_receiver_key", "outbox_row", "post", "receiver_for",
           "with_receivers"]
