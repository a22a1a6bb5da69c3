"""Rendering a digest into an e-mail (Jinja2, text and HTML parts) and sending it over
SMTP (plain, STARTTLS or SSL, with login). Only ids, counts and $ reach an e-mail: alert
scopes are facility/channel/source ids, never patient data."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from alerting.digest import Digest, DigestItem
from alerting.links import alert_url, records_url
from alerting.redact import redact_text, safe_scope
from core.config import Settings, SmtpConfig
from core.keys import patient_token_key

TEMPLATES = Path(__file__).with_name("templates")
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_KIND_TITLE = {"new": "New", "escalated": "Escalated to fail", "firing": "Still firing",
               "resolved": "Resolved", "inhibited": "Suppressed (upstream outage)"}


def message_id(dedupe_key: str, sender: str) -> str:
    """A Message-ID derived from the dedupe key, so a re-send is recognisably the same."""
    domain = sender.rpartition("@")[2] or "chargeline.local"
    return f"<{dedupe_key}@{domain}>"


def fmt_number(value: float | None, unit: str) -> str:
    """A value for people: ``$1,234.50``, ``4.5%``, ``130 minutes``, ``no value``."""
    if value is None:
        return "no value"
    if unit == "USD":
        return f"${value:,.2f}"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if value == 1 and unit.endswith("s") and len(unit.split()[-1]) > 3:
        unit = unit[:-1]  # "1 usage event", "1 minute" (not "1 m" for ms)
    return f"{text}%" if unit == "%" else f"{text} {unit}".strip()


def _subject(digest: Digest) -> str:
    parts = []
    for kind, word in (("new", "new"), ("escalated", "escalated"), ("firing", "firing"),
                       ("resolved", "resolved")):
        count = digest.count(kind)
        if count:
            parts.append(f"{count} {word}")
    total_usd = sum(i.state.amount or 0 for i in digest.items if i.kind != "resolved")
    money = f", ${total_usd:,.0f} at stake" if total_usd else ""
    return f"[Chargeline] {digest.owner}: {', '.join(parts) or 'update'}{money}"


def _row(item: DigestItem, settings: Settings, now: datetime) -> dict[str, Any]:
    secret = patient_token_key(settings)
    scope = safe_scope(item.state.scope, secret)
    base = settings.dashboard_url
    state = item.state
    inhibited = ""
    if item.inhibitor is not None:
        inhibited = item.inhibitor.reason(safe_scope(dict(item.inhibitor.scope), secret))
    return {
        "item": item,
        "link": alert_url(base, item.rule.id, scope),
        "records": records_url(base, item.rule.metric, scope, now - item.rule.window, now,
                               item.rule.parameters.args),
        "value": fmt_number(state.value, item.rule.unit),
        # a $ rule's value is already the money: its amount would print it twice
        "amount": fmt_number(state.amount, "USD")
        if state.amount and item.rule.unit != "USD" else "",
        "threshold": fmt_number(state.threshold, item.rule.unit)
        if state.threshold is not None else "",
        "scope": ", ".join(f"{k} {v}" for k, v in sorted(scope.items())) or "whole network",
        "error": redact_text(state.error),
        "inhibited": inhibited,
    }


def render(digest: Digest, settings: Settings) -> tuple[str, str, str]:
    """(subject, text body, html body) of a digest; scopes are ids or tokens, never PHI."""
    sections = []
    for kind, title in _KIND_TITLE.items():
        rows = [_row(i, settings, digest.created_at) for i in digest.items if i.kind == kind]
        if rows:
            sections.append({"kind": kind, "title": title, "items": rows})
    usd = sum(i.state.amount or 0 for i in digest.items if i.kind != "resolved")
    context = {"digest": digest, "sections": sections, "subject": _subject(digest),
               "total_usd": fmt_number(usd, "USD") if usd else "",
               "dashboard_url": settings.dashboard_url.rstrip("/")}
    return (context["subject"], _env.get_template("digest.txt").render(context),
            _env.get_template("digest.html").render(context))


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str,
                  msg_id: str, date_value: str = "") -> EmailMessage:
    """A multipart/alternative e-mail: plain text first, HTML preferred."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Message-ID"] = msg_id
    if date_value:
        msg["Date"] = date_value
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send(smtp: SmtpConfig, msg: EmailMessage) -> None:
    """Send one message; smtplib errors propagate for the dispatcher to classify."""
    timeout = smtp.timeout_seconds
    context = ssl.create_default_context(cafile=smtp.ca_file or None)
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout,
                                                context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(msg)


__all__ = ["build_message", "fmt_number", "message_id", "render", "send"]
