"""Digest e-mails: counts, $, links the dashboard understands, HTML escaping, and no patient
data even when a scope or an error carries some; SMTP with STARTTLS/SSL and login against a
real server using a certificate made for the test."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from alerting.digest import Digest, DigestItem, Inhibitor
from alerting.mail import build_message, fmt_number, render, send
from alerting.state import AlertState, State
from app.shaping.drill import from_query_params
from core.config import load_settings
from core.phi import patient_token
from tests.alerting.factories import T0, make_rule
from tests.alerting.smtp_server import (
    PasswordCheck,
    RecordingHandler,
    free_port,
    self_signed_cert,
    server_tls_context,
    start,
)

SETTINGS = load_settings(dashboard_url="http://dash.example:8501/",
                         phi_secret="test-secret-for-tokens")
DUPES = make_rule(id="duplicate-charges-usd", name="Duplicate charges ($ overcharged)",
                  metric="duplicate_charge_usd", owner="revenue-cycle", scope={"by": ["facility"]},
                  stewards=["rc@example.org"], warn=1, fail=5000, unit="USD", window="7d")
NACK = make_rule(metric="nack_rate_pct", unit="%", warn=2, fail=5)


def _state(rule, scope, value, *, amount=None, state=State.FIRING, error="", level="fail"):
    fp = rule.id + "|" + ",".join(f"{k}={v}" for k, v in sorted(scope.items()))
    return AlertState(fp, rule.id, scope, state, T0, T0, level, value, amount, rule.fail,
                      firing_since=T0, error=error)


def _digest(*items: DigestItem) -> Digest:
    return Digest("revenue-cycle", "rc@example.org", T0 + timedelta(minutes=5), items)


def test_counts_money_and_links_the_dashboard_can_open() -> None:
    fac1 = _state(DUPES, {"facility": "FAC01"}, 7450.0, amount=7450.0)
    fac2 = _state(DUPES, {"facility": "FAC02"}, 900.0, amount=900.0, level="warn")
    old = _state(DUPES, {"facility": "FAC03"}, 0.0, state=State.RESOLVED, level="")
    subject, text, html = render(_digest(DigestItem("new", fac1, DUPES),
                                         DigestItem("firing", fac2, DUPES),
                                         DigestItem("resolved", old, DUPES)), SETTINGS)
    assert subject == "[Chargeline] revenue-cycle: 1 new, 1 firing, 1 resolved, $8,350 at stake"
    assert "Money at stake in the open alerts: $8,350.00" in text
    assert "== New (1) ==" in text and "== Still firing (1) ==" in text
    assert "== Resolved (1) ==" in text
    # the $ once (a $ rule's value is its amount), the level that fired in the tag
    assert "value $7,450.00 (threshold $5,000.00)\n" in text
    assert "- [FAIL] Duplicate charges" in text and "/fail]" not in text
    assert "open: http://dash.example:8501/alerts?facility=FAC01&rule=duplicate-charges-usd" in text
    # the records link is the drill-down page's own URL: app.shaping.drill reads it back
    link = next(line.split("records: ")[1] for line in text.splitlines() if "records: " in line)
    parts = urlsplit(link)
    assert parts.path == "/drilldown"
    filters = from_query_params({k: v for k, v in parse_qs(parts.query).items()})
    assert (filters.dataset, filters.facilities) == ("duplicates", ("FAC01",))
    assert (filters.since, filters.until) == (T0 + timedelta(minutes=5) - timedelta(days=7),
                                              T0 + timedelta(minutes=5))
    assert ('<a href="http://dash.example:8501/drilldown?dataset=duplicates&amp;facility=FAC01'
            in html)


def test_one_of_a_unit_is_singular() -> None:
    assert fmt_number(1.0, "usage events") == "1 usage event"
    assert fmt_number(3.0, "usage events") == "3 usage events"
    assert fmt_number(1.0, "ms") == "1 ms"


def test_html_part_escapes_what_rule_files_and_sources_write() -> None:
    rule = make_rule(name="NACK <script>alert(1)</script>", description="a & b <i>x</i>")
    state = _state(rule, {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}, 9.0)
    _, text, html = render(_digest(DigestItem("new", state, rule)), SETTINGS)
    assert "<script>" not in html
    assert "NACK &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &amp; b &lt;i&gt;x&lt;/i&gt;" in html
    assert "NACK <script>alert(1)</script>" in text  # the text part is not HTML


def test_no_patient_data_reaches_the_mail_even_from_a_bad_scope_or_error() -> None:
    """A reader that put an MRN into a channel name, a patient key into a scope, and an
    HL7 PID segment into an error message: the e-mail holds tokens and counts only."""
    mrn = "MRN00482913"
    scope = {"facility": "FAC01", "channel": mrn, "patient": "DOE^JANE"}
    error = ("billing said: PID|1||00482913^^^HOSP^MR||DOE^JANE||19800214|F "
             "for MRN 00482913 born 02/14/1980")
    firing = _state(NACK, scope, 12.0)
    broken = replace(_state(NACK, {"facility": "FAC02", "channel": "00482913"}, None,
                            state=State.ERROR), error=error)
    inhibited = DigestItem("inhibited", _state(NACK, {"facility": "FAC03", "channel": "X"}, 1.0),
                           NACK, inhibitor=Inhibitor("Interface queue age",
                                                     (("channel", mrn), ("facility", "FAC01"))))
    digest = _digest(DigestItem("new", firing, NACK), DigestItem("firing", broken, NACK),
                     inhibited)
    subject, text, html = render(digest, SETTINGS)
    message = build_message(sender="c@x.org", recipient="rc@example.org", subject=subject,
                            text=text, html=html, msg_id="<1@x.org>")
    wire = message.as_string().replace(message.get_boundary(), "")  # the boundary is random
    for secret in ("00482913", "DOE", "JANE", "19800214", "1980"):
        assert secret not in wire, secret
    token = patient_token("test-secret-for-tokens", mrn)
    assert f"channel {token}, facility FAC01" in text  # tokenised, still joinable
    assert f"Interface queue age is firing for channel {token}, facility FAC01" in text
    assert "data unavailable (error): billing said: [redacted]" in text
    assert "3 alerts" not in subject and "1 new, 1 firing" in subject


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_and_login_against_a_real_server(tmp_path: Path, mode: str) -> None:
    cert, key = self_signed_cert(tmp_path)
    port = free_port()
    handler = RecordingHandler()
    options = {"authenticator": PasswordCheck("chargeline", "s3cret"), "auth_required": True}
    if mode == "starttls":
        options |= {"tls_context": server_tls_context(cert, key), "require_starttls": True}
    else:
        # implicit TLS: aiosmtpd only knows about STARTTLS, so it may offer AUTH here
        # implicit TLS: aiosmtpd only knows about STARTTLS, so let it offer AUTH here (our
        # client still logs in; the wrong password below proves the check happens)
        options |= {"ssl_context": server_tls_context(cert, key), "auth_require_tls": False,
                    "auth_required": False}
    server = start(handler, port, **options)
    smtp = {"host": "127.0.0.1", "port": port, "security": mode, "username": "chargeline",
            "password": "s3cret", "ca_file": str(cert), "timeout_seconds": 5}
    msg = build_message(sender="chargeline@hospital.example", recipient="rc@example.org",
                        subject="s", text="t", html="<p>h</p>", msg_id="<k@hospital.example>")
    try:
        send(load_settings(smtp=smtp).smtp, msg)
        with pytest.raises(Exception, match=r"535|uthentication"):
            send(load_settings(smtp=smtp | {"password": "wrong"}).smtp, msg)
        with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            send(load_settings(smtp=smtp | {"ca_file": ""}).smtp, msg)  # not trusted
    finally:
        server.stop()
    assert [m["Message-ID"] for m in handler.messages] == ["<k@hospital.example>"]
    assert handler.sessions == [{"tls": True, "login": "chargeline"}]
