"""A source answering with a web page (a sign-in, proxy or maintenance page) is reported
as HTML with its HTTP status and Content-Type, not as JSON cut off."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, select

from collectors.jsonio import markup_kind
from collectors.runner import run_source
from core.config import Settings, SourceConfig
from core.model import RunStatus
from store.schema import api_calls, quarantined_records

SIGN_IN = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>...</body></html>"


@pytest.mark.parametrize(("raw", "content_type", "kind"), [
    (SIGN_IN, "text/html; charset=utf-8", "HTML"),
    (SIGN_IN, "", "HTML"),
    (b"  <html><body>down for maintenance</body></html>", "text/plain", "HTML"),
    (b'<?xml version="1.0"?><error><code>500</code></error>', "application/xml", "XML"),
    (b'{"resourceType": "Bundle", "entry": [{"reso', "application/fhir+json", ""),
    (b"", "", ""),
])
def test_markup_kind(raw: bytes, content_type: str, kind: str) -> None:
    assert markup_kind(raw, content_type) == kind


def test_an_html_answer_is_reported_as_html_with_status_and_type(engine: Engine) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=SIGN_IN,
                              headers={"content-type": "text/html; charset=utf-8"})

    source = SourceConfig(name="erp", kind="odata_erp", base_url="http://erp.example/odata",
                          max_retries=1)
    settings = Settings(database_url=str(engine.url), sources=[source])
    result = run_source(settings, engine, source, transport=httpx.MockTransport(answer),
                        sleep=lambda _s: None)
    assert result is not None and result.status is RunStatus.ERROR
    assert "the answer is HTML, not JSON (HTTP 200, Content-Type text/html; charset=utf-8)" \
        in result.error, result.error
    assert "cut off" not in result.error
    with engine.connect() as conn:
        classes = set(conn.execute(select(api_calls.c.error_class)).scalars())
        reasons = list(conn.execute(select(quarantined_records.c.reason)).scalars())
    assert classes == {"HtmlAnswer"}
    assert reasons == ["HTML answer instead of JSON (HTTP 200, text/html; charset=utf-8) "
                       "(still bad after retries)"]
